// Processes: every process on every host, grouped by host and by group,
// filtered as you type, sorted by any column. Rows are only rendered again
// when their process changed; uptimes tick by themselves (ticker.js).
import { html } from 'htm/preact';
import { Component } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { act, enc } from '../api.js';
import { bytes, duration, exitText, num, now } from '../format.js';
import { state } from '../store.js';
import { StateBadge, confirmAction } from '../ui.js';

const COLS = [
	['name', 'name'],
	['state', 'state'],
	['pid', 'pid'],
	['uptime', 'uptime'],
	['restarts', 'restarts'],
	['cpu', 'CPU'],
	['rss', 'memory'],
	['exit', 'last exit'],
];

const KEYS = {
	name: (p) => p.instance,
	state: (p) => p.state,
	pid: (p) => p.pid ?? -1,
	uptime: (p) => (p.state === 'RUNNING' ? -p.since : -Infinity),
	restarts: (p) => p.restarts,
	cpu: (p) => p._cpu ?? -1,
	rss: (p) => p.rss_bytes ?? -1,
	exit: (p) => p.exit_code ?? p.exit_signal ?? -1,
};

class Row extends Component {
	shouldComponentUpdate(next) {
		return next.p !== this.props.p;
	}
	render({ p }) {
		const running = p.state === 'RUNNING' || p.state === 'STARTING' || p.state === 'STOPPING';
		return html`<tr data-name=${p.name} class=${'row st-row-' + p.state}>
			<td><a href=${'#/process/' + enc(p.name)}>${p.name}</a></td>
			<td><${StateBadge} s=${p.state} />${p.error ? html` <span class="err" title=${p.error}>!</span>` : ''}</td>
			<td class="num pid">${p.pid ?? '\u2013'}</td>
			<td class="num uptime" data-since=${running ? p.since : null}>${running ? duration(now() - p.since) : '\u2013'}</td>
			<td class="num restarts">${p.restarts}</td>
			<td class="num">${p._cpu != null ? num(p._cpu, 1) + ' %' : '\u2013'}</td>
			<td class="num">${bytes(p.rss_bytes)}</td>
			<td>${exitText(p)}</td>
		</tr>`;
	}
}

export function groupAction(group, action) {
	const verbs = { start: 'Start', stop: 'Stop', restart: 'Restart' };
	confirmAction({
		title: `${verbs[action]} group ${group}?`,
		detail: `${verbs[action]} every instance of ${group}${action === 'restart' ? ', one at a time' : ''}.`,
		confirm: verbs[action],
		danger: action !== 'start',
		run: async () => {
			await act('POST', `/api/v1/groups/${enc(group)}/${action}${action === 'restart' ? '?rolling=1' : ''}`);
			return `${verbs[action]}: ${group}`;
		},
	});
}

export function scaleGroup(group, current) {
	confirmAction({
		title: `Scale group ${group}`,
		detail: `${group} has ${current} instance${current === 1 ? '' : 's'}. New instances start at once; surplus ones are stopped and removed.`,
		confirm: 'Scale',
		input: { label: 'Instances', type: 'number', min: 0, value: current },
		run: async (v) => {
			const n = Number(v);
			if (!Number.isInteger(n) || n < 0) throw new Error('The number of instances must be a whole number, 0 or more.');
			await act('PUT', `/api/v1/groups/${enc(group)}/instances`, { instances: n });
			return `${group}: scaled to ${n}`;
		},
	});
}

function GroupHead({ host, group, procs, span }) {
	const counts = {};
	for (const p of procs) counts[p.state] = (counts[p.state] || 0) + 1;
	const g = state.groups.find((x) => x.name === group);
	const total = g ? g.instances : procs.length;
	return html`<tr class="group-head" data-group=${group}>
		<th colspan=${span} scope="rowgroup">
			<span class="gname">${group}</span>
			<span class="muted"> \u00b7 ${procs.length} shown \u00b7 ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ')}</span>
			<span class="actions">
				<button onClick=${() => groupAction(group, 'start')}>Start</button>
				<button onClick=${() => groupAction(group, 'stop')}>Stop</button>
				<button onClick=${() => groupAction(group, 'restart')}>Restart</button>
				<button onClick=${() => scaleGroup(group, total)} data-action="scale">Scale\u2026</button>
			</span>
		</th>
	</tr>`;
}

function matcher(q) {
	const words = q.toLowerCase().split(/\s+/).filter(Boolean);
	if (!words.length) return null;
	return (p) => {
		const hay = `${p.name} ${p.state} ${p.host} ${p.pid ?? ''} ${p.error ?? ''}`.toLowerCase();
		return words.every((w) => hay.includes(w));
	};
}

const ROW_H = 34; // px: every row of the table, headers included (app.css)
const OVERSCAN = 15;

// The rows of the table that are on screen (and a few more): a thousand
// processes cost a few dozen rows of DOM, whatever the burst of changes.
function useWindow(ref, count) {
	const [range, setRange] = useState([0, Math.min(count, 60)]);
	useEffect(() => {
		let raf = 0;
		const update = () => {
			raf = 0;
			const el = ref.current;
			if (!el) return;
			const top = el.getBoundingClientRect().top;
			const first = Math.max(0, Math.floor(-top / ROW_H) - OVERSCAN);
			const last = Math.min(count, Math.max(first, Math.ceil((innerHeight - top) / ROW_H) + OVERSCAN));
			setRange((r) => (r[0] === first && r[1] === last ? r : [first, last]));
		};
		const on = () => {
			if (!raf) raf = requestAnimationFrame(update);
		};
		update();
		addEventListener('scroll', on, { passive: true });
		addEventListener('resize', on);
		return () => {
			cancelAnimationFrame(raf);
			removeEventListener('scroll', on);
			removeEventListener('resize', on);
		};
	}, [count]);
	return range;
}

function HostHead({ host, n, span }) {
	return html`<tr class="host-head" data-host=${host}><th colspan=${span} scope="rowgroup">Host ${host} <span class="muted">\u00b7 ${n} process${n === 1 ? '' : 'es'}</span></th></tr>`;
}

export function Processes({ query }) {
	const [q, setQ] = useState(query || '');
	const [sort, setSort] = useState({ key: 'name', dir: 1 });
	const table = useRef();
	useEffect(() => setQ(query || ''), [query]);
	useEffect(() => {
		state.usageViews++; // keeps CPU and memory fresh while shown
		return () => state.usageViews--;
	}, []);

	// One flat list of items: host heads, group heads and rows, in order.
	const view = useMemo(() => {
		const m = matcher(q);
		const key = KEYS[sort.key];
		const list = m ? state.procList.filter(m) : state.procList;
		const byHost = new Map();
		let running = 0,
			restarts = 0;
		for (const p of state.procList) {
			if (p.state === 'RUNNING') running++;
			restarts += p.restarts;
		}
		for (const p of list) {
			const h = p.host || 'local';
			if (!byHost.has(h)) byHost.set(h, new Map());
			const groups = byHost.get(h);
			if (!groups.has(p.group)) groups.set(p.group, []);
			groups.get(p.group).push(p);
		}
		const items = [];
		const hosts = Array.from(byHost.keys()).sort((a, b) => (a === 'local' ? -1 : b === 'local' ? 1 : a < b ? -1 : 1));
		for (const host of hosts) {
			const groups = byHost.get(host);
			let n = 0;
			for (const arr of groups.values()) n += arr.length;
			items.push({ kind: 'host', host, n });
			for (const [group, arr] of groups) {
				// procList is already by instance: sort only for another order.
				if (sort.key !== 'name' || sort.dir !== 1)
					arr.sort((a, b) => {
					const x = key(a),
						y = key(b);
					return (x < y ? -1 : x > y ? 1 : a.instance - b.instance) * sort.dir;
				});
				items.push({ kind: 'group', host, group, procs: arr });
				for (const p of arr) items.push({ kind: 'row', p });
			}
		}
		return { items, shown: list.length, running, restarts };
	}, [state.procsVersion, q, sort.key, sort.dir]);

	const [first, last] = useWindow(table, view.items.length);
	const span = COLS.length;

	const th = ([key, label]) => {
		const on = sort.key === key;
		return html`<th scope="col" class=${'c-' + key} aria-sort=${on ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none'}>
			<button class="sort" onClick=${() => setSort({ key, dir: on ? -sort.dir : 1 })}>${label}${on ? (sort.dir > 0 ? ' \u25b2' : ' \u25bc') : ''}</button>
		</th>`;
	};

	return html`<div class="view processes" id="view-processes">
		<h1>Processes <small id="shown-count" data-shown=${view.shown} data-total=${state.procList.length} data-running=${view.running} data-restarts=${view.restarts}>${view.shown} of ${state.procList.length} shown \u00b7 ${view.running} running</small></h1>
		<div class="toolbar">
			<label class="filter">Filter <input type="search" id="filter" placeholder="name, state, host, pid\u2026" value=${q}
				onInput=${(e) => setQ(e.target.value)} aria-controls="proc-table" /></label>
		</div>
		<div class="table-wrap">
		<table class="procs" id="proc-table" ref=${table} aria-rowcount=${view.items.length + 1}>
			<colgroup>${COLS.map(([k]) => html`<col class=${'c-' + k} />`)}</colgroup>
			<thead><tr aria-rowindex="1">${COLS.map(th)}</tr></thead>
			<tbody>
				${first > 0 && html`<tr class="spacer" aria-hidden="true"><td colspan=${span} style=${{ height: first * ROW_H + 'px' }}></td></tr>`}
				${view.items.slice(first, last).map((it) =>
					it.kind === 'row'
						? html`<${Row} key=${'r:' + it.p.name} p=${it.p} />`
						: it.kind === 'group'
							? html`<${GroupHead} key=${'g:' + it.host + ':' + it.group} host=${it.host} group=${it.group} procs=${it.procs} span=${span} />`
							: html`<${HostHead} key=${'h:' + it.host} host=${it.host} n=${it.n} span=${span} />`
				)}
				${last < view.items.length && html`<tr class="spacer" aria-hidden="true"><td colspan=${span} style=${{ height: (view.items.length - last) * ROW_H + 'px' }}></td></tr>`}
			</tbody>
		</table>
		</div>
		${view.shown === 0 && html`<p class="empty">${state.loaded ? (q ? 'No process matches the filter.' : 'No processes are configured.') : 'Loading\u2026'}</p>`}
	</div>`;
}
