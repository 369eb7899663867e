import { h, render } from 'preact';
const es = new EventSource('/api/v1/events');
es.onopen = () => render(h('p', null, 'drover: live'), document.getElementById('app'));
render(h('p', null, 'drover'), document.getElementById('app'));
