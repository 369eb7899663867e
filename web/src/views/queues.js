// Queues: size, in flight, consumers and rates, with depth and rate charts.
import { html } from 'htm/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { enc, getJSON } from '../api.js';
import { Chart } from '../chart.js';
import { bytes, num } from '../format.js';
import { state } from '../store.js';

function QueueCharts({ name }) {
	const [h, setH] = useState(null);
	useEffect(() => {
		let stop = false,
			timer;
		const load = async () => {
			let every = 2000;
			try {
				const j = await getJSON(`/api/v1/queues/${enc(name)}/history`);
				if (stop) return;
				setH(j);
				every = Math.max(1000, j.interval_s * 1000);
			} catch {
				/* no samples yet */
			}
			if (!stop) timer = setTimeout(load, every);
		};
		load();
		return () => {
			stop = true;
			clearTimeout(timer);
		};
	}, [name]);
	const depth = useMemo(() => (h ? [h.t, h.size, h.in_flight] : [[], [], []]), [h]);
	const rates = useMemo(() => (h ? [h.t, h.put_rate, h.get_rate] : [[], [], []]), [h]);
	return html`<div class="grid2">
		<${Chart} id=${'chart-depth-' + name} title="Depth" labels=${['size', 'in flight']} data=${depth} fmt=${(v) => num(v, 0)} />
		<${Chart} id=${'chart-rate-' + name} title="Rates (messages/s)" labels=${['put/s', 'get/s']} data=${rates} fmt=${(v) => num(v, 1)} />
	</div>`;
}

export function Queues() {
	const queues = Array.from(state.queues.values()).sort((a, b) => (a.name < b.name ? -1 : 1));
	return html`<div class="view queues" id="view-queues">
		<h1>Queues</h1>
		${queues.length === 0 &&
		html`<p class="empty">No queues are configured. Declare them under <code>queues:</code> in the configuration; workers reach them with the authkey.</p>`}
		${queues.map((q) => {
			const r = state.queueRates.get(q.name) || {};
			return html`<section class="card queue" key=${q.name} data-queue=${q.name}>
				<h2>${q.name} ${q.durable && html`<small class="tag">durable</small>`}</h2>
				<dl class="stats">
					<div><dt>size</dt><dd class="q-size">${q.size}${q.capacity ? html` <small>of ${q.capacity}</small>` : ''}</dd></div>
					<div><dt>in flight</dt><dd>${q.in_flight}</dd></div>
					<div><dt>consumers</dt><dd>${q.consumers}</dd></div>
					<div><dt>put</dt><dd>${num(r.put, 1)}/s <small>${q.put_total} total</small></dd></div>
					<div><dt>get</dt><dd>${num(r.get, 1)}/s <small>${q.get_total} total</small></dd></div>
				</dl>
				<${QueueCharts} name=${q.name} />
			</section>`;
		})}
	</div>`;
}
