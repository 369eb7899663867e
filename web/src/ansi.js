// ANSI SGR colours in log lines, turned into spans with classes (no inline
// style: the page's CSP allows none). Other escape sequences are dropped.
const SGR = /\x1b\[([0-9;]*)m/g;
const OTHER = /\x1b(\[[0-9;?]*[A-Za-ln-z]|\][^\x07]*\x07|[()][0-9A-B])/g;

// Returns [[text, classes], ...] for one line.
export function ansiSpans(line) {
	const out = [];
	let fg = null,
		bg = null,
		bold = false,
		dim = false,
		italic = false,
		under = false;
	let last = 0,
		m;
	line = line.replace(OTHER, '');
	const cls = () => {
		const c = [];
		if (fg !== null) c.push('a-fg' + fg);
		if (bg !== null) c.push('a-bg' + bg);
		if (bold) c.push('a-b');
		if (dim) c.push('a-d');
		if (italic) c.push('a-i');
		if (under) c.push('a-u');
		return c.join(' ');
	};
	SGR.lastIndex = 0;
	while ((m = SGR.exec(line)) !== null) {
		if (m.index > last) out.push([line.slice(last, m.index), cls()]);
		last = SGR.lastIndex;
		const codes = m[1] === '' ? [0] : m[1].split(';').map(Number);
		for (let i = 0; i < codes.length; i++) {
			const c = codes[i];
			if (c === 0) (fg = bg = null), (bold = dim = italic = under = false);
			else if (c === 1) bold = true;
			else if (c === 2) dim = true;
			else if (c === 3) italic = true;
			else if (c === 4) under = true;
			else if (c === 22) bold = dim = false;
			else if (c === 23) italic = false;
			else if (c === 24) under = false;
			else if (c >= 30 && c <= 37) fg = c - 30;
			else if (c >= 90 && c <= 97) fg = c - 90 + 8;
			else if (c === 39) fg = null;
			else if (c >= 40 && c <= 47) bg = c - 40;
			else if (c >= 100 && c <= 107) bg = c - 100 + 8;
			else if (c === 49) bg = null;
			else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
				// 256 colours: the first 16 map onto ours, the rest are dropped.
				const n = codes[i + 2];
				if (n < 16) c === 38 ? (fg = n) : (bg = n);
				i += 2;
			} else if ((c === 38 || c === 48) && codes[i + 1] === 2) i += 4;
		}
	}
	if (last < line.length) out.push([line.slice(last), cls()]);
	return out;
}
