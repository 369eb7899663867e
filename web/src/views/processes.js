// Processes: every process on every host, grouped by host and by group,
// filtered as you type, sorted by any column. Rows are only rendered again
// when their process changed; uptimes tick by themselves (ticker.js).
import { html } from 'htm/preact';
import { Component } from 'preact';
import { useMemo, useState, useEffect } from 'preact/hooks';
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
			<span class="muted"> on ${host} \u00b7 ${procs.length} shown \u00b7 ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ')}</span>
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

export function Processes({ query }) {
	const [q, setQ] = useState(query || '');
	const [sort, setSort] = useState({ key: 'name', dir: 1 });
	useEffect(() => setQ(query || ''), [query]);

	const hosts = useMemo(() => {
		const m = matcher(q);
		const key = KEYS[sort.key];
		const list = m ? state.procList.filter(m) : state.procList;
		const byHost = new Map();
		for (const p of list) {
			const h = p.host || 'local';
			if (!byHost.has(h)) byHost.set(h, new Map());
			const groups = byHost.get(h);
			if (!groups.has(p.group)) groups.set(p.group, []);
			groups.get(p.group).push(p);
		}
		for (const groups of byHost.values())
			for (const arr of groups.values())
				arr.sort((a, b) => {
					const x = key(a), y = key(b);
					return (x < y ? -1 : x > y ? 1 : a.instance - b.instance) * sort.dir;
				});
		return { byHost, shown: list.length };
	}, [state.procsVersion, q, sort.key, sort.dir]);

	const th = ([key, label]) => {
		const on = sort.key === key;
		return html`<th scope="col" aria-sort=${on ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none'}>
			<button class="sort" onClick=${() => setSort({ key, dir: on ? -sort.dir : 1 })}>${label}${on ? (sort.dir > 0 ? ' \u25b2' : ' \u25bc') : ''}</button>
		</th>`;
	};

	return html`<div class="view processes" id="view-processes">
		<h1>Processes <small id="shown-count">${hosts.shown} of ${state.procList.length}</small></h1>
		<div class="toolbar">
			<label class="filter">Filter <input type="search" id="filter" placeholder="name, state, host, pid\u2026" value=${q}
				onInput=${(e) => setQ(e.target.value)} aria-controls="proc-table" /></label>
		</div>
		${Array.from(hosts.byHost.entries()).map(
			([host, groups]) => html`<section class="host" key=${host} data-host=${host}>
				<h2>Host ${host}</h2>
				<div class="table-wrap">
				<table class="procs" id=${host === 'local' ? 'proc-table' : null}>
					<thead><tr>${COLS.map(th)}</tr></thead>
					${Array.from(groups.entries()).map(
						([group, procs]) => html`<tbody key=${group}>
							<${GroupHead} host=${host} group=${group} procs=${procs} span=${COLS.length} />
							${procs.map((p) => html`<${Row} key=${p.name} p=${p} />`)}
						</tbody>`
					)}
				</table>
				</div>
			</section>`
		)}
		${hosts.shown === 0 && html`<p class="empty">${state.loaded ? (q ? 'No process matches the filter.' : 'No processes are configured.') : 'Loading\u2026'}</p>`}
	</div>`;
}
