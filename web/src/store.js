// The dashboard's state: one copy of every process, queue, agent and group,
// kept live from /api/v1/events. On every (re)connection the whole state is
// fetched again (catch-up), and the events that arrive meanwhile are applied
// on top, newest `since` winning, so nothing stays stale after droverd
// restarts or the network drops. Changes are coalesced into one render per
// animation frame, so a burst of a thousand events costs one render.
import { useEffect, useState } from 'preact/hooks';
import { getJSON } from './api.js';

const MAX_EVENTS = 300;
const MAX_EXITS = 1000; // the last exits of all processes together

export const state = {
	conn: 'connecting', // connecting | live | reconnecting
	downSince: null, // when the stream dropped (ms)
	connects: 0, // how many times the stream (re)opened
	status: null,
	procs: new Map(), // name -> process object (replaced, never mutated)
	procList: [], // in the API's order (group, then instance)
	procsVersion: 0,
	groups: [],
	queues: new Map(),
	queueRates: new Map(), // name -> {put, get} per second
	agents: [],
	agentsError: null, // the API's message when /agents fails (e.g. 404)
	events: [], // newest first
	eventSeq: 0,
	exits: [], // [{name, t, pid, state, exit_code, exit_signal}], newest first, bounded
	loaded: false,
	version: 0,
	usageViews: 0, // views on screen that show CPU and memory of every process
};

const listeners = new Set();
let scheduled = false;

let listDirty = false;

function flush() {
	scheduled = false;
	if (listDirty) refreshList();
	state.version++;
	for (const f of listeners) f(state.version);
}

// Marks the state changed: listeners run once, at the next frame.
export function changed() {
	if (scheduled) return;
	scheduled = true;
	if (typeof requestAnimationFrame === 'function' && document.visibilityState !== 'hidden')
		requestAnimationFrame(flush);
	else setTimeout(flush, 50);
}

// A hook: re-renders the component on every state change.
export function useStore() {
	const [, set] = useState(0);
	useEffect(() => {
		const f = (v) => set(v);
		listeners.add(f);
		return () => listeners.delete(f);
	}, []);
	return state;
}

function sameProc(a, b) {
	return (
		a.state === b.state &&
		a.pid === b.pid &&
		a.since === b.since &&
		a.restarts === b.restarts &&
		a.cpu_seconds === b.cpu_seconds &&
		a.rss_bytes === b.rss_bytes &&
		a.ready === b.ready &&
		a.error === b.error &&
		a.exit_code === b.exit_code &&
		a.exit_signal === b.exit_signal &&
		a.host === b.host
	);
}

// CPU use in percent of one core, from two readings of the same process.
function notePct(old, p) {
	const t = performance.now() / 1000;
	p._at = t;
	if (old && old.pid === p.pid && old._at != null && p.cpu_seconds != null && old.cpu_seconds != null && t - old._at > 0.2)
		p._cpu = Math.max(0, ((p.cpu_seconds - old.cpu_seconds) / (t - old._at)) * 100);
	else if (old && old.pid === p.pid) p._cpu = old._cpu;
}

function noteExit(old, p) {
	const died =
		(old.pid != null && p.pid !== old.pid) ||
		(old.state !== p.state && ['EXITED', 'BACKOFF', 'FATAL'].includes(p.state));
	if (!died) return;
	const list = state.exits;
	list.unshift({
		name: p.name,
		t: p.since,
		pid: old.pid,
		state: p.state,
		exit_code: p.exit_code,
		exit_signal: p.exit_signal,
	});
	if (list.length > MAX_EXITS) list.length = MAX_EXITS;
}

// The same names in the same order, with the objects that changed since.
function refreshList() {
	listDirty = false;
	state.procList = state.procList.map((p) => state.procs.get(p.name) || p);
	state.procsVersion++;
}

function rebuildList() {
	listDirty = false;
	const list = Array.from(state.procs.values());
	list.sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : a.instance - b.instance));
	state.procList = list;
	state.procsVersion++;
}

// Applies one process object (from an event or a fetch). Returns true when
// the list of names changed.
function putProc(p) {
	const old = state.procs.get(p.name);
	if (old) {
		if (p.since < old.since) return false; // older than what we have
		if (sameProc(old, p)) return false;
		noteExit(old, p);
		notePct(old, p);
		state.procs.set(p.name, p);
		listDirty = true; // the list is rebuilt once, at the next frame
		return false;
	}
	notePct(null, p);
	state.procs.set(p.name, p);
	return true;
}

// Replaces the whole list with a fetched one, keeping the objects that did
// not change (so their rows are not rendered again).
function setProcs(list) {
	const seen = new Set();
	let names = false;
	for (const p of list) {
		seen.add(p.name);
		const old = state.procs.get(p.name);
		if (!old) {
			notePct(null, p);
			state.procs.set(p.name, p);
			names = true;
		} else if (p.since >= old.since && !sameProc(old, p)) {
			noteExit(old, p);
			notePct(old, p);
			state.procs.set(p.name, p);
			listDirty = true;
		}
	}
	for (const name of Array.from(state.procs.keys()))
		if (!seen.has(name)) {
			state.procs.delete(name);
			names = true;
		}
	if (names) rebuildList();
}

function setQueue(q, t) {
	const old = state.queues.get(q.name);
	if (old && t > old._t)
		state.queueRates.set(q.name, {
			put: Math.max(0, (q.put_total - old.put_total) / (t - old._t)),
			get: Math.max(0, (q.get_total - old.get_total) / (t - old._t)),
		});
	state.queues.set(q.name, { ...q, _t: t });
}

function setQueues(list) {
	const t = performance.now() / 1000;
	const names = new Set(list.map((q) => q.name));
	for (const name of Array.from(state.queues.keys())) if (!names.has(name)) state.queues.delete(name);
	for (const q of list) setQueue(q, t);
}

function pushEvent(type, data) {
	state.events.unshift({ seq: ++state.eventSeq, t: Date.now() / 1000, type, data });
	if (state.events.length > MAX_EVENTS) state.events.length = MAX_EVENTS;
}

export async function loadAgents() {
	try {
		const a = await getJSON('/api/v1/agents');
		state.agents = Array.isArray(a) ? a : [];
		state.agentsError = null;
	} catch (e) {
		state.agents = [];
		state.agentsError = e.status === 404 ? 'not-supported' : e.message;
	}
	changed();
}

// The groups, and the process list too when the groups' instances are not
// the ones we have (a scale, a reload): a group event costs a small fetch.
async function loadGroups() {
	try {
		state.groups = await getJSON('/api/v1/groups');
		let n = 0,
			same = true;
		for (const g of state.groups)
			for (const name of g.processes || []) {
				n++;
				if (!state.procs.has(name)) same = false;
			}
		if (!same || n !== state.procs.size) await loadProcesses();
		changed();
	} catch {
		/* the next catch-up tries again */
	}
}

// Marks when the first data arrived, for the first render's measure (once:
// performance entries are kept for the page's life).
let dataMarked = false;
function markData() {
	if (!dataMarked) performance.mark('drover:data');
	dataMarked = true;
}

export async function loadProcesses() {
	const list = await getJSON('/api/v1/processes');
	markData();
	setProcs(list);
	changed();
}

let catchingUp = null;
let pending = [];

// Fetches everything; events that arrive meanwhile are applied after.
async function catchUp() {
	const mine = {};
	catchingUp = mine;
	pending = [];
	try {
		const [status, procs, queues, groups] = await Promise.all([
			getJSON('/api/v1/status'),
			getJSON('/api/v1/processes'),
			getJSON('/api/v1/queues').catch(() => []),
			getJSON('/api/v1/groups').catch(() => []),
		]);
		if (catchingUp !== mine) return;
		markData();
		state.status = status;
		state.groups = groups;
		setProcs(procs);
		setQueues(queues);
		state.loaded = true;
	} catch (e) {
		if (catchingUp !== mine) return;
		console.warn('catch-up failed:', e.message);
	} finally {
		if (catchingUp === mine) {
			catchingUp = null;
			const p = pending;
			pending = [];
			p.forEach(([t, d]) => apply(t, d));
			changed();
		}
	}
	loadAgents();
}

let groupTimer = null;

function apply(type, data) {
	if (type === 'process') {
		if (putProc(data)) rebuildList();
	} else if (type === 'queue') {
		setQueue(data, performance.now() / 1000);
	} else if (type === 'group') {
		// Instances may have come or gone (scale, reload): fetch the list
		// again, once for a burst of group events.
		clearTimeout(groupTimer);
		groupTimer = setTimeout(loadGroups, 150);
	} else if (type === 'config') {
		if (data && data.ok) catchUp();
	} else if (type === 'agent') {
		loadAgents();
	}
}

function onEvent(type, e) {
	let data;
	try {
		data = JSON.parse(e.data);
	} catch {
		return;
	}
	pushEvent(type, data);
	if (catchingUp) pending.push([type, data]);
	else apply(type, data);
	changed();
}

// The event stream is read with fetch() rather than EventSource: a burst
// of thousands of events (a group of a thousand restarting) then costs a few
// chunk reads, parsed here in slices of a few milliseconds, instead of one
// browser task dispatching every event at once.
const SLICE_MS = 4;
let streamAbort = null;
let retryTimer = null;

function streamDown() {
	if (state.conn !== 'reconnecting') {
		state.conn = 'reconnecting';
		state.downSince = Date.now();
		changed();
	}
	clearTimeout(retryTimer);
	retryTimer = setTimeout(connect, 1000);
}

// Handles the complete events in buf; returns what is left of it.
async function parseEvents(buf, mine) {
	let t0 = performance.now();
	let i;
	while ((i = buf.indexOf('\n\n')) >= 0) {
		const block = buf.slice(0, i);
		buf = buf.slice(i + 2);
		let type = 'message',
			data = '';
		for (const line of block.split('\n')) {
			if (line.startsWith('event:')) type = line.slice(6).trim();
			else if (line.startsWith('data:')) data += (data ? '\n' : '') + line.slice(5).replace(/^ /, '');
		}
		if (data) onEvent(type, { data });
		if (performance.now() - t0 > SLICE_MS) {
			await new Promise((r) => setTimeout(r, 0)); // let the page breathe
			if (streamAbort !== mine) return '';
			t0 = performance.now();
		}
	}
	return buf;
}

// Opens /api/v1/events; reopens it by itself, and catches up on each open.
export async function connect() {
	clearTimeout(retryTimer);
	if (streamAbort) streamAbort.abort();
	const mine = new AbortController();
	streamAbort = mine;
	try {
		const r = await fetch('/api/v1/events', { signal: mine.signal, cache: 'no-store', headers: { Accept: 'text/event-stream' } });
		if (!r.ok || !r.body) throw new Error(`events: ${r.status}`);
		state.conn = 'live';
		state.downSince = null;
		state.connects++;
		changed();
		catchUp();
		const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
		let buf = '';
		for (;;) {
			const { value, done } = await reader.read();
			if (done || streamAbort !== mine) break;
			buf = await parseEvents(buf + value.replace(/\r\n?/g, '\n'), mine);
		}
	} catch (e) {
		if (streamAbort !== mine) return; // replaced on purpose
	}
	if (streamAbort === mine) streamDown();
}

// CPU and memory change without events: the list is fetched again every
// few seconds while the page is visible and the stream is up (each second
// for a small fleet, so what is shown is at most a second old).
function refreshLoop() {
	const n = state.procs.size;
	const every = n <= 200 ? 1000 : 5000;
	setTimeout(async () => {
		if (state.conn === 'live' && !catchingUp && document.visibilityState === 'visible') {
			try {
				if (state.usageViews > 0) await loadProcesses();
				// Queue events stop when a queue stops changing: its rates
				// fall to zero only from here.
				if (state.queues.size > 0) setQueues(await getJSON('/api/v1/queues'));
				changed();
			} catch {
				/* the stream's error handler says so */
			}
		}
		refreshLoop();
	}, every);
}

export function start() {
	connect();
	refreshLoop();
}

// Applies a process object fetched by a view (e.g. the process page).
export function putProcess(p) {
	if (putProc(p)) rebuildList();
	changed();
}
