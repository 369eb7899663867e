// Agents: the drover-agent programs on other hosts, from /api/v1/agents.
import { html } from 'htm/preact';
import { bytes, dateTime, duration, now } from '../format.js';
import { state } from '../store.js';
import { StateBadge } from '../ui.js';

function Empty() {
	const why =
		state.agentsError === 'not-supported'
			? 'This droverd does not serve agents yet (GET /api/v1/agents answers 404).'
			: state.agentsError
				? `The agents could not be listed: ${state.agentsError}`
				: 'No agent has connected.';
	return html`<div class="empty card" id="agents-empty">
		<h2>No agents</h2>
		<p>${why}</p>
		<p>Agents run processes on other hosts: each host runs <code>drover-agent</code>, which connects to droverd
		(<code>agents.listen</code>, by default <code>tcp://127.0.0.1:9171</code>) with its key. Groups placed on a host
		with <code>hosts:</code> start there when its agent comes, and show here with their host. Until then, every
		process runs on droverd's own host, <em>local</em>.</p>
	</div>`;
}

export function Agents() {
	const agents = state.agents;
	return html`<div class="view agents" id="view-agents">
		<h1>Agents</h1>
		${agents.length === 0
			? html`<${Empty} />`
			: html`<div class="table-wrap"><table>
				<thead><tr><th scope="col">name</th><th scope="col">state</th><th scope="col">address</th><th scope="col">labels</th><th scope="col">last heartbeat</th><th scope="col">processes</th><th scope="col">machine</th><th scope="col">version</th></tr></thead>
				<tbody>
					${agents.map((a) => {
						const procs = state.procList.filter((p) => p.host === a.name).length;
						const seen = typeof a.last_seen === 'number' ? a.last_seen : a.last_seen ? Date.parse(a.last_seen) / 1000 : null;
						const since = typeof a.since === 'number' ? a.since : null;
						return html`<tr key=${a.name} data-agent=${a.name}>
							<th scope="row"><a href=${'#/processes?q=' + encodeURIComponent(a.name)}>${a.name}</a>${a.hostname && a.hostname !== a.name ? html` <small class="muted">${a.hostname}</small>` : ''}</th>
							<td><${StateBadge} s=${a.state} />${since ? html` <small class="muted">for ${duration(now() - since)}</small>` : ''}</td>
							<td>${a.address || '\u2013'}</td>
							<td>${Object.entries(a.labels || {}).map(([k, v]) => html`<span class="tag">${k}=${v}</span> `)}</td>
							<td>${seen ? html`${dateTime(seen)} <small class="muted">(${duration(now() - seen)} ago)</small>` : '\u2013'}</td>
							<td class="num">${typeof a.processes === 'number' ? a.processes : Array.isArray(a.processes) ? a.processes.length : procs}</td>
							<td>${a.cores ? `${a.cores} cores` : ''}${a.memory_bytes ? `, ${bytes(a.memory_bytes)}` : ''}${a.heartbeat_rtt_seconds != null ? html` <small class="muted">rtt ${(a.heartbeat_rtt_seconds * 1000).toFixed(1)} ms</small>` : ''}</td>
							<td>${a.version || '\u2013'}</td>
						</tr>`;
					})}
				</tbody>
			</table></div>`}
	</div>`;
}
