// Overview: counts by state, by host and by group, the processes that need
// a look (FATAL, BACKOFF) called out, queues and agents at a glance.
import { html } from 'htm/preact';
import { useMemo } from 'preact/hooks';
import { STATES, bytes, num } from '../format.js';
import { state } from '../store.js';
import { StateBadge } from '../ui.js';

function countBy(list, key) {
	const m = new Map();
	for (const p of list) {
		const k = p[key] ?? 'local';
		let c = m.get(k);
		if (!c) m.set(k, (c = { total: 0 }));
		c.total++;
		c[p.state] = (c[p.state] || 0) + 1;
	}
	return Array.from(m.entries()).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function CountTable({ title, rows, what, link }) {
	// Only the states that some row has, RUNNING always: narrow enough for a phone.
	const states = STATES.filter((s) => s === 'RUNNING' || rows.some(([, c]) => c[s]));
	return html`<section class="card">
		<h2>${title}</h2>
		<div class="table-wrap"><table class="counts">
			<thead><tr><th scope="col">${what}</th><th scope="col">total</th>${states.map((s) => html`<th scope="col" class=${'st-' + s} title=${s}>${s}</th>`)}</tr></thead>
			<tbody>
				${rows.map(([k, c]) => html`<tr key=${k}>
					<th scope="row">${link ? html`<a href=${link(k)}>${k}</a>` : k}</th><td>${c.total}</td>
					${states.map((s) => html`<td class=${c[s] ? 'st-' + s : 'zero'}>${c[s] || ''}</td>`)}
				</tr>`)}
			</tbody>
		</table></div>
	</section>`;
}

export function Overview() {
	const list = state.procList;
	const { byState, byHost, byGroup, trouble } = useMemo(() => {
		const byState = {};
		for (const p of list) byState[p.state] = (byState[p.state] || 0) + 1;
		return {
			byState,
			byHost: countBy(list, 'host'),
			byGroup: countBy(list, 'group'),
			trouble: list.filter((p) => p.state === 'FATAL' || p.state === 'BACKOFF'),
		};
	}, [state.procsVersion]);
	const queues = Array.from(state.queues.values());
	const st = state.status;
	return html`<div class="view overview" id="view-overview">
		<h1>Overview ${st && html`<small>${st.name} \u00b7 droverd ${st.version} \u00b7 ${st.config_file}</small>`}</h1>
		<section class="tiles" aria-label="Processes by state">
			<a class="tile" href="#/processes"><span class="big" id="count-total">${list.length}</span> processes</a>
			${STATES.filter((s) => byState[s] || s === 'RUNNING').map(
				(s) => html`<a class=${'tile st-' + s} href=${'#/processes?q=' + s} data-state=${s}>
					<span class="big">${byState[s] || 0}</span> <${StateBadge} s=${s} /></a>`
			)}
		</section>
		${trouble.length > 0 &&
		html`<section class="card alert" role="alert" id="trouble">
			<h2>Needs attention: ${trouble.length} process${trouble.length === 1 ? '' : 'es'} in FATAL or BACKOFF</h2>
			<ul class="trouble">
				${trouble.slice(0, 50).map(
					(p) => html`<li key=${p.name}><a href=${'#/process/' + encodeURIComponent(p.name)}>${p.name}</a> <${StateBadge} s=${p.state} />
						<span class="muted">${p.host} \u00b7 ${p.restarts} restarts${p.error ? ' \u00b7 ' + p.error : ''}</span></li>`
				)}
				${trouble.length > 50 && html`<li>\u2026 and ${trouble.length - 50} more</li>`}
			</ul>
		</section>`}
		<div class="grid2">
			<${CountTable} title="By host" what="host" rows=${byHost} />
			<${CountTable} title="By group" what="group" rows=${byGroup} link=${(g) => '#/processes?q=' + encodeURIComponent(g + ':')} />
		</div>
		<div class="grid2">
			<section class="card">
				<h2><a href="#/queues">Queues</a></h2>
				${queues.length === 0
					? html`<p class="muted">No queues are configured.</p>`
					: html`<table><thead><tr><th scope="col">queue</th><th scope="col">size</th><th scope="col">in flight</th><th scope="col">consumers</th><th scope="col">put/s</th></tr></thead>
						<tbody>${queues.map((q) => html`<tr key=${q.name}><th scope="row"><a href="#/queues">${q.name}</a></th><td>${q.size}${q.capacity ? ' / ' + q.capacity : ''}</td><td>${q.in_flight}</td><td>${q.consumers}</td><td>${num(state.queueRates.get(q.name)?.put, 1)}</td></tr>`)}</tbody></table>`}
			</section>
			<section class="card">
				<h2><a href="#/agents">Agents</a></h2>
				${state.agents.length === 0
					? html`<p class="muted">No agents: every process runs on this host (<em>local</em>).</p>`
					: html`<ul>${state.agents.map((a) => html`<li key=${a.name}><${StateBadge} s=${a.state} /> ${a.name} <span class="muted">${a.address || ''}</span></li>`)}</ul>`}
			</section>
		</div>
		${st && html`<p class="muted foot">${st.groups} groups \u00b7 ${list.length} processes \u00b7 droverd pid ${st.pid}</p>`}
	</div>`;
}
