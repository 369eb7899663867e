// The event feed: the last few hundred events of /api/v1/events, newest first.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { time } from '../format.js';
import { state } from '../store.js';
import { StateBadge } from '../ui.js';

function summary(e) {
	const d = e.data || {};
	switch (e.type) {
		case 'process':
			return html`<a href=${'#/process/' + encodeURIComponent(d.name)}>${d.name}</a> <${StateBadge} s=${d.state} />
				${d.pid != null ? ` pid ${d.pid}` : ''}${d.restarts ? ` \u00b7 ${d.restarts} restarts` : ''}${d.error ? ` \u00b7 ${d.error}` : ''}`;
		case 'group':
			return `group ${d.group}: ${d.event}`;
		case 'queue':
			return `queue ${d.name}: size ${d.size}, in flight ${d.in_flight}, ${d.consumers} consumers`;
		case 'config':
			return d.ok ? `configuration reloaded (${d.config_file})` : d.applied ? `configuration reloaded, except: ${d.errors}` : `reload refused: ${d.errors || 'invalid configuration'}`;
		case 'agent':
			return `agent ${d.name}: ${d.state}`;
		default:
			return JSON.stringify(d);
	}
}

export function Events() {
	const [type, setType] = useState('');
	const list = type ? state.events.filter((e) => e.type === type) : state.events;
	return html`<div class="view events" id="view-events">
		<h1>Events <small>the last ${state.events.length} since this page opened</small></h1>
		<div class="toolbar">
			<label>Type <select value=${type} onChange=${(e) => setType(e.target.value)}>
				<option value="">all</option>
				${['process', 'group', 'queue', 'agent', 'config'].map((t) => html`<option value=${t}>${t}</option>`)}
			</select></label>
		</div>
		${list.length === 0
			? html`<p class="empty">No events yet. They appear here as they happen: state changes, scaling, reloads, queue activity.</p>`
			: html`<ol class="feed" id="feed">
				${list.map((e) => html`<li key=${e.seq} class=${'ev-' + e.type}><time>${time(e.t)}</time> <span class="tag">${e.type}</span> ${summary(e)}</li>`)}
			</ol>`}
	</div>`;
}
