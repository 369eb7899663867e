// The dashboard's state: one copy of every process, queue, agent and group,
// kept live from /api/v1/events. On every (re)connection the whole state is
// fetched again (catch-up), and the events that arrive meanwhile are applied
// on top, newest `since` winning, so nothing stays stale after droverd
// restarts or the network drops. Changes are coalesced into one render per
// animation frame, so a burst of a thousand events costs one render.
import { useEffect, useState } from 'preact/hooks';
import { getJSON } from './api.js';

const MAX_EVENTS = 300;
const MAX_EXITS = 20;

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
	exits: new Map(), // name -> [{t, pid, state, exit_code, exit_signal}], newest first
	loaded: false,
	version: 0,
};

const listeners = new Set();
let scheduled = false;

function flush() {
	scheduled = false;
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
	const list = state.exits.get(p.name) || [];
	list.unshift({
		t: p.since,
		pid: old.pid,
		state: p.state,
		exit_code: p.exit_code,
		exit_signal: p.exit_signal,
	});
	if (list.length > MAX_EXITS) list.length = MAX_EXITS;
	state.exits.set(p.name, list);
}

function rebuildList() {
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
		const i = state.procList.indexOf(old);
		if (i >= 0) {
			state.procList = state.procList.slice();
			state.procList[i] = p;
		}
		state.procsVersion++;
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
			names = true;
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

async function loadGroups() {
	try {
		state.groups = await getJSON('/api/v1/groups');
		changed();
	} catch {
		/* the next catch-up tries again */
	}
}

export async function loadProcesses() {
	const list = await getJSON('/api/v1/processes');
	performance.mark('drover:data');
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
		performance.mark('drover:data');
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
		groupTimer = setTimeout(() => {
			loadProcesses().catch(() => {});
			loadGroups();
		}, 150);
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

let es = null;
let retryTimer = null;

// Opens /api/v1/events; reopens it by itself, and catches up on each open.
export function connect() {
	clearTimeout(retryTimer);
	if (es) es.close();
	es = new EventSource('/api/v1/events');
	es.onopen = () => {
		state.conn = 'live';
		state.downSince = null;
		state.connects++;
		changed();
		catchUp();
	};
	es.onerror = () => {
		if (state.conn !== 'reconnecting') {
			state.conn = 'reconnecting';
			state.downSince = Date.now();
			changed();
		}
		// The browser retries by itself unless the stream was refused.
		if (es.readyState === EventSource.CLOSED) retryTimer = setTimeout(connect, 2000);
	};
	for (const t of ['process', 'group', 'agent', 'queue', 'config'])
		es.addEventListener(t, (e) => onEvent(t, e));
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
				await loadProcesses();
				const q = await getJSON('/api/v1/queues');
				setQueues(q);
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
