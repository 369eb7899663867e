// One process: every field of its object, its actions, its restarts and
// last exits, CPU and memory over the last hour, and its output followed
// live.
import { html } from 'htm/preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { act, enc, getJSON } from '../api.js';
import { ansiSpans } from '../ansi.js';
import { Chart } from '../chart.js';
import { bytes, dateTime, duration, exitText, num, now } from '../format.js';
import { changed, state, putProcess } from '../store.js';
import { StateBadge, confirmAction, toast } from '../ui.js';

const SIGNALS = ['HUP', 'INT', 'TERM', 'KILL', 'USR1', 'USR2', 'QUIT', 'CONT', 'STOP', 'WINCH'];
const MAX_LINES = 5000;

function procAction(name, action) {
	const verbs = { start: 'Start', stop: 'Stop', restart: 'Restart' };
	confirmAction({
		title: `${verbs[action]} ${name}?`,
		detail: action === 'restart' ? `${name} is stopped and started again; it gets a new pid.` : `${verbs[action]} ${name}.`,
		confirm: verbs[action],
		danger: action !== 'start',
		run: async () => {
			await act('POST', `/api/v1/processes/${enc(name)}/${action}`);
			return `${verbs[action]}: ${name}`;
		},
	});
}

function sendSignal(name) {
	confirmAction({
		title: `Send a signal to ${name}`,
		detail: `The signal goes to ${name}'s process.`,
		confirm: 'Send',
		danger: true,
		input: { label: 'Signal', type: 'select', options: SIGNALS, value: 'HUP' },
		run: async (sig) => {
			await act('POST', `/api/v1/processes/${enc(name)}/signal`, { signal: sig || 'HUP' });
			return `SIG${sig || 'HUP'} sent to ${name}`;
		},
	});
}

function fieldValue(k, v) {
	if (v == null) return html`<span class="muted">null</span>`;
	if (k === 'since') return `${dateTime(v)} (${duration(now() - v)} ago)`;
	if (k === 'rss_bytes') return `${bytes(v)} (${v})`;
	if (k === 'cpu_seconds') return `${num(v, 2)} s`;
	if (k === 'state') return html`<${StateBadge} s=${v} />`;
	if (typeof v === 'boolean') return v ? 'yes' : 'no';
	if (typeof v === 'object') return JSON.stringify(v);
	return String(v);
}

function History({ name }) {
	const [h, setH] = useState(null);
	const [err, setErr] = useState(null);
	useEffect(() => {
		let stop = false,
			timer;
		const load = async () => {
			try {
				const j = await getJSON(`/api/v1/processes/${enc(name)}/history`);
				if (stop) return;
				setH(j);
				setErr(null);
				timer = setTimeout(load, Math.max(1000, j.interval_s * 1000));
			} catch (e) {
				if (stop) return;
				setErr(e.status === 404 ? 'No samples yet: droverd samples every few seconds.' : e.message);
				timer = setTimeout(load, 2000);
			}
		};
		load();
		return () => {
			stop = true;
			clearTimeout(timer);
		};
	}, [name]);
	const cpu = useMemo(() => (h ? [h.t, h.cpu_percent] : [[], []]), [h]);
	const rss = useMemo(() => (h ? [h.t, h.rss_bytes] : [[], []]), [h]);
	return html`<section class="card charts">
		<h2>Last hour ${h && html`<small>a sample every ${h.interval_s} s</small>`}</h2>
		${err && html`<p class="muted">${err}</p>`}
		<div class="grid2">
			<${Chart} id="chart-cpu" title="CPU (% of one core)" labels=${['CPU %']} data=${cpu} fmt=${(v) => num(v, 1) + ' %'} />
			<${Chart} id="chart-rss" title="Memory (RSS)" labels=${['RSS']} data=${rss} fmt=${bytes} />
		</div>
	</section>`;
}

function download(name, stream) {
	getJSON(`/api/v1/processes/${enc(name)}/logs?stream=${stream}&tail=10000`)
		.then((j) => {
			const blob = new Blob([j.lines.join('\n') + (j.lines.length ? '\n' : '')], { type: 'text/plain' });
			const a = document.createElement('a');
			a.href = URL.createObjectURL(blob);
			a.download = `${name.replace(':', '-')}.${stream}.log`;
			document.body.appendChild(a);
			a.click();
			a.remove();
			setTimeout(() => URL.revokeObjectURL(a.href), 10000);
		})
		.catch((e) => toast(e.message, 'bad'));
}

function Line({ text }) {
	const spans = ansiSpans(text);
	return html`<div class="line">${spans.map(([t, c]) => (c ? html`<span class=${c}>${t}</span>` : t))}</div>`;
}

function Logs({ name }) {
	const [stream, setStream] = useState('stdout');
	const [view, setView] = useState({ lines: [], first: 0, error: null, path: null });
	const [follow, setFollow] = useState(true);
	const box = useRef();
	const auto = useRef(null); // scrollTop right after our last autoscroll

	useEffect(() => {
		let stop = false,
			timer,
			offset = null,
			inode = null,
			first = 0;
		let lines = [];
		const base = `/api/v1/processes/${enc(name)}/logs?stream=${stream}`;
		const add = (more, path) => {
			if (more.length) {
				lines = lines.concat(more);
				if (lines.length > MAX_LINES) {
					first += lines.length - MAX_LINES;
					lines = lines.slice(lines.length - MAX_LINES);
				}
			}
			setView({ lines, first, error: null, path });
		};
		const poll = async () => {
			try {
				let url = base + '&tail=500';
				if (offset != null) url = `${base}&offset=${offset}${inode != null ? '&inode=' + inode : ''}`;
				const j = await getJSON(url);
				if (stop) return;
				offset = j.offset;
				inode = j.inode;
				add(j.lines, j.path);
			} catch (e) {
				if (stop) return;
				setView({ lines, first, error: e.message, path: null });
			}
			if (!stop) timer = setTimeout(poll, 1000);
		};
		setView({ lines: [], first: 0, error: null, path: null });
		auto.current = null;
		setFollow(true);
		poll();
		return () => {
			stop = true;
			clearTimeout(timer);
		};
	}, [name, stream]);

	// Follows the end, unless the reader moved up since we last scrolled
	// (even if the scroll event has not reached onScroll yet).
	useLayoutEffect(() => {
		const el = box.current;
		if (!el || !follow) return;
		if (auto.current != null && el.scrollTop < auto.current - 4) {
			setFollow(false);
			return;
		}
		el.scrollTop = el.scrollHeight;
		auto.current = el.scrollTop;
	}, [view, follow]);

	const onScroll = () => {
		const el = box.current;
		const atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
		if (atEnd) auto.current = el.scrollTop;
		if (atEnd !== follow) setFollow(atEnd);
	};
	const jump = () => {
		auto.current = null;
		setFollow(true);
	};

	return html`<section class="card logs">
		<h2>Output</h2>
		<div class="toolbar" role="tablist" aria-label="Stream">
			${['stdout', 'stderr'].map(
				(s) => html`<button role="tab" aria-selected=${stream === s} class=${stream === s ? 'on' : ''} onClick=${() => setStream(s)}>${s}</button>`
			)}
			<span class="muted path">${view.path || ''}</span>
			<span class=${'follow ' + (follow ? 'on' : '')} id="follow-state">${follow ? '\u25cf following' : '\u23f8 paused (scrolled up)'}</span>
			${!follow && html`<button onClick=${jump}>Jump to end</button>`}
			<button onClick=${() => download(name, stream)}>Download</button>
		</div>
		${view.error && html`<p class="muted" role="status">${view.error}</p>`}
		<div class="log" ref=${box} onScroll=${onScroll} tabindex="0" aria-label=${`${stream} of ${name}`} id="log" data-lines=${view.lines.length}>
			${view.lines.map((l, i) => html`<${Line} key=${view.first + i} text=${l} />`)}
		</div>
	</section>`;
}

export function Process({ name }) {
	const p = state.procs.get(name);
	useEffect(() => {
		let stop = false,
			timer;
		const load = async () => {
			try {
				const j = await getJSON(`/api/v1/processes/${enc(name)}`);
				if (!stop) putProcess(j);
			} catch {
				/* gone, or droverd is down: the page says so */
			}
			if (!stop) timer = setTimeout(load, 1000);
		};
		load();
		return () => {
			stop = true;
			clearTimeout(timer);
		};
	}, [name]);
	if (!p)
		return html`<div class="view" id="view-process"><h1>${name}</h1><p class="empty">${state.loaded ? `No process named ${name}.` : 'Loading\u2026'}</p></div>`;
	const exits = state.exits.filter((x) => x.name === name).slice(0, 20);
	const fields = Object.entries(p).filter(([k]) => !k.startsWith('_'));
	return html`<div class="view process" id="view-process" data-name=${name}>
		<h1><a href="#/processes">Processes</a> / ${name} <${StateBadge} s=${p.state} /></h1>
		<div class="toolbar actions">
			<button onClick=${() => procAction(name, 'start')} data-action="start">Start</button>
			<button onClick=${() => procAction(name, 'stop')} data-action="stop">Stop</button>
			<button onClick=${() => procAction(name, 'restart')} data-action="restart">Restart</button>
			<button onClick=${() => sendSignal(name)} data-action="signal">Signal\u2026</button>
		</div>
		<div class="grid2">
			<section class="card">
				<h2>Details</h2>
				<table class="fields">
					<tbody>${fields.map(([k, v]) => html`<tr key=${k} data-field=${k}><th scope="row">${k}</th><td>${fieldValue(k, v)}</td></tr>`)}</tbody>
				</table>
			</section>
			<section class="card">
				<h2>Restarts and exits</h2>
				<p><strong id="restarts">${p.restarts}</strong> restart${p.restarts === 1 ? '' : 's'} so far; last exit: ${exitText(p)}.</p>
				${exits.length === 0
					? html`<p class="muted">No exit seen since this page opened.</p>`
					: html`<table><thead><tr><th scope="col">when</th><th scope="col">pid</th><th scope="col">then</th><th scope="col">exit</th></tr></thead>
						<tbody>${exits.map((x, i) => html`<tr key=${i}><td>${dateTime(x.t)}</td><td>${x.pid ?? '\u2013'}</td><td><${StateBadge} s=${x.state} /></td><td>${exitText(x)}</td></tr>`)}</tbody></table>`}
			</section>
		</div>
		<${History} name=${name} />
		<${Logs} name=${name} />
	</div>`;
}
