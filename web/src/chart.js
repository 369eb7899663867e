// A time-series chart (uPlot) sized to its container. data is
// [t[], series1[], ...] with t in Unix seconds; null is a gap.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

const COLORS = ['#2b7bd6', '#d9822b', '#2f9e5a', '#b04ad6'];

export function Chart({ title, labels, data, fmt, height = 160, id }) {
	const box = useRef();
	const plot = useRef();

	useEffect(() => {
		const el = box.current;
		const ink = getComputedStyle(el).color || '#888';
		const opts = {
			width: Math.max(200, el.clientWidth),
			height,
			legend: { show: true, live: true },
			cursor: { drag: { x: false, y: false } },
			scales: { x: { time: true, range: (u, min, max) => (min == null ? [Date.now() / 1000 - 60, Date.now() / 1000] : max - min < 60 ? [max - 60, max] : [min, max]) } },
			axes: [
				{ stroke: ink, grid: { stroke: 'rgba(128,128,128,0.2)' }, ticks: { stroke: 'rgba(128,128,128,0.3)' } },
				{
					stroke: ink,
					grid: { stroke: 'rgba(128,128,128,0.2)' },
					ticks: { stroke: 'rgba(128,128,128,0.3)' },
					size: 70,
					values: (u, vals) => vals.map((v) => fmt(v)),
				},
			],
			series: [
				{},
				...labels.map((l, i) => ({
					label: l,
					stroke: COLORS[i % COLORS.length],
					width: 1.5,
					spanGaps: false,
					value: (u, v) => (v == null ? '\u2013' : fmt(v)),
				})),
			],
		};
		plot.current = new uPlot(opts, data, el);
		const ro = new ResizeObserver(() => {
			if (plot.current) plot.current.setSize({ width: Math.max(200, el.clientWidth), height });
		});
		ro.observe(el);
		return () => {
			ro.disconnect();
			plot.current.destroy();
			plot.current = null;
		};
	}, [labels.join(','), height]);

	useEffect(() => {
		if (plot.current) plot.current.setData(data);
	}, [data]);

	const n = data[0].length;
	return html`<figure class="chart" id=${id} data-samples=${n}>
		<figcaption>${title} <small>${n} sample${n === 1 ? '' : 's'}</small></figcaption>
		<div ref=${box} class="chart-box" role="img" aria-label=${`${title}: ${n} samples`}></div>
	</figure>`;
}
