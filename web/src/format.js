// Small formatters shared by the views.

export const STATES = ['RUNNING', 'STARTING', 'BACKOFF', 'STOPPING', 'STOPPED', 'EXITED', 'FATAL', 'UNKNOWN'];

// A symbol per state, so that a state reads without colour too.
export const STATE_ICON = {
	RUNNING: '\u25cf', // ●
	STARTING: '\u25d4', // ◔
	BACKOFF: '\u21bb', // ↻
	STOPPING: '\u25d1', // ◑
	STOPPED: '\u25a0', // ■
	EXITED: '\u25cb', // ○
	FATAL: '\u2716', // ✖
	UNKNOWN: '?',
	CONNECTED: '\u25cf',
	LOST: '\u2716',
};

export function duration(s) {
	if (s == null || !isFinite(s) || s < 0) return '\u2013';
	s = Math.floor(s);
	const d = Math.floor(s / 86400),
		h = Math.floor((s % 86400) / 3600),
		m = Math.floor((s % 3600) / 60),
		sec = s % 60;
	if (d > 0) return `${d}d ${h}h`;
	if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
	if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
	return `${sec}s`;
}

export function bytes(n) {
	if (n == null || !isFinite(n)) return '\u2013';
	const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (Math.abs(n) >= 1024 && i < u.length - 1) {
		n /= 1024;
		i++;
	}
	return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}

export function num(n, digits = 0) {
	if (n == null || !isFinite(n)) return '\u2013';
	return n.toFixed(digits);
}

export function time(t) {
	if (t == null) return '\u2013';
	const d = new Date(t * 1000);
	return d.toLocaleTimeString(undefined, { hour12: false });
}

export function dateTime(t) {
	if (t == null) return '\u2013';
	const d = new Date(t * 1000);
	return `${d.toLocaleDateString()} ${d.toLocaleTimeString(undefined, { hour12: false })}`;
}

export function exitText(p) {
	if (p.exit_signal != null) return `signal ${p.exit_signal}`;
	if (p.exit_code != null) return `code ${p.exit_code}`;
	return '\u2013';
}

export const now = () => Date.now() / 1000;
