// The dashboard in a real browser (Debian's chromium, headless, driven by
// playwright-core) against a real droverd started here. Every wait is on the
// page's own DOM state or on the API, never on network idle (the event
// stream keeps the network busy) and never a fixed sleep.
//
// Environment (ctest sets it): DROVERD, DROVER_WEB_MODULES (node_modules with
// playwright-core), DROVER_CHROMIUM, DROVER_SHOTS (screenshots go there), and
// DROVER_DOCS: with DROVER_UPDATE_DOCS=1 the screenshots and the measured
// figures also go to DROVER_DOCS/dashboard/ for docs/dashboard.md.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const env = process.env;
const DROVERD = env.DROVERD;
const require = createRequire(path.join(env.DROVER_WEB_MODULES, '..', 'package.json'));
const { chromium } = require('playwright-core');
const TOKEN = 'browser-test-token-0123456789';
const SHOTS = env.DROVER_SHOTS || path.join(os.tmpdir(), 'drover-shots');
const DOCS = env.DROVER_UPDATE_DOCS === '1' && env.DROVER_DOCS ? path.join(env.DROVER_DOCS, 'dashboard') : null;
const T0 = Date.now();
const figures = {};

function log(...a) {
	console.log(`[${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);
}

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
		s.on('error', reject);
	});
}

async function until(what, fn, timeoutMs = 20000, everyMs = 50) {
	const end = Date.now() + timeoutMs;
	let last;
	for (;;) {
		try {
			last = await fn();
			if (last) return last;
		} catch (e) {
			last = e;
		}
		if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
		await new Promise((r) => setTimeout(r, everyMs));
	}
}

// A droverd on its own directory and port.
class Droverd {
	constructor(name, groups, extra = '') {
		this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `drover-browser-${name}-`));
		this.groups = groups;
		this.extra = extra;
	}
	async write(groups) {
		if (groups) this.groups = groups;
		this.port ||= await freePort();
		this.qport ||= await freePort();
		this.aport ||= await freePort();
		fs.mkdirSync(path.join(this.dir, 'keys'), { recursive: true });
		// Secrets are private, or droverd refuses them.
		fs.writeFileSync(path.join(this.dir, 'api.token'), TOKEN + '\n', { mode: 0o600 });
		fs.writeFileSync(path.join(this.dir, 'queue.key'), 'browser-test-queue-key-0123456789\n', { mode: 0o600 });
		fs.writeFileSync(
			path.join(this.dir, 'drover.yaml'),
			`supervisor:
  name: browser-test
  state_dir: ${this.dir}/var
  http: { listen: '127.0.0.1:${this.port}', token_file: ${this.dir}/api.token }
  agents: { listen: 'tcp://127.0.0.1:${this.aport}', keys_dir: ${this.dir}/keys, heartbeat: 200ms }
  queues: { listen: 'tcp://127.0.0.1:${this.qport}', authkey_file: ${this.dir}/queue.key }
groups:
${this.groups}
${this.extra}`
		);
	}
	get base() {
		return `http://127.0.0.1:${this.port}`;
	}
	async start() {
		await this.write();
		this.out = fs.openSync(path.join(this.dir, 'droverd.log'), 'a');
		this.proc = spawn(DROVERD, ['-c', path.join(this.dir, 'drover.yaml')], {
			stdio: ['ignore', this.out, this.out],
			env: { ...env, DROVER_HISTORY_INTERVAL_MS: '1000' },
		});
		this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r(sig || code)));
		await until('droverd to answer', () => this.get('/api/v1/status'), 30000, 100);
	}
	// A drover-agent named name, with its key made by droverctl keygen.
	keygen(name) {
		const keys = path.join(this.dir, 'keys');
		fs.mkdirSync(keys, { recursive: true });
		if (!fs.existsSync(path.join(keys, `${name}.cert`))) execFileSync(env.DROVERCTL, ['keygen', keys, '--name', name], { stdio: 'ignore' });
	}
	startAgent(name, labels = {}) {
		const keys = path.join(this.dir, 'keys');
		this.keygen(name);
		const dir = path.join(this.dir, `agent-${name}`);
		fs.mkdirSync(dir, { recursive: true });
		const out = fs.openSync(path.join(dir, 'agent.log'), 'a');
		const argv = ['--connect', `tcp://127.0.0.1:${this.aport}`, '--name', name, '--key', path.join(keys, `${name}.cert_secret`), '--server-key', path.join(keys, 'droverd.cert'), '--state-dir', dir];
		for (const [k, v] of Object.entries(labels)) argv.push('--label', `${k}=${v}`);
		const a = spawn(env.DROVER_AGENT, argv, { cwd: dir, stdio: ['ignore', out, out] });
		a.exited = new Promise((r) => a.on('exit', r));
		(this.agents ||= []).push(a);
		return a;
	}
	async stopAgents() {
		for (const a of this.agents || []) {
			if (a.exitCode === null) a.kill('SIGTERM');
			await a.exited;
		}
		this.agents = [];
	}
	async stop() {
		if (!this.proc || this.proc.exitCode !== null) return;
		this.proc.kill('SIGTERM');
		const t = setTimeout(() => this.proc.kill('SIGKILL'), 30000);
		const status = await this.exited;
		clearTimeout(t);
		fs.closeSync(this.out);
		// Under ASan a leak or an error at exit shows here.
		if (status !== 0) problems.push(`droverd exited with ${status}: see ${path.join(this.dir, 'droverd.log')}`);
	}
	async get(p) {
		const r = await fetch(this.base + p);
		if (!r.ok) throw new Error(`${p}: ${r.status}`);
		return r.json();
	}
	async post(p, body, method = 'POST') {
		const r = await fetch(this.base + p, {
			method,
			headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json' },
			body: body ? JSON.stringify(body) : undefined,
		});
		if (!r.ok) throw new Error(`${p}: ${r.status} ${await r.text()}`);
		return r.json();
	}
	cleanup() {
		fs.rmSync(this.dir, { recursive: true, force: true });
	}
}

// Console errors and requests to any other origin, for the whole run. The
// browser itself logs a failed resource load as a console error: those are
// allowed only for the refusals and empty histories this test provokes.
const problems = [];
const actionRequests = [];

function watch(page, origin) {
	page.on('console', (m) => {
		if (m.type() !== 'error') return;
		const url = m.location()?.url || '';
		if (/Failed to load resource: the server responded with a status of (401|404|422)/.test(m.text()) && /\/history$|\/restart$|\/reload$/.test(url)) return;
		if (/Failed to load resource|ERR_CONNECTION_REFUSED|net::ERR/.test(m.text()) && reconnectWindow) return;
		problems.push(`console error: ${m.text()} (${url})`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('request', (r) => {
		const u = r.url();
		if (!u.startsWith(origin + '/') && !u.startsWith('blob:') && !u.startsWith('data:')) problems.push(`request to another origin: ${u}`);
		if (r.method() !== 'GET') actionRequests.push({ method: r.method(), url: u, auth: r.headers()['authorization'] || null });
	});
}
let reconnectWindow = false;

async function shot(page, name, opts = {}) {
	fs.mkdirSync(SHOTS, { recursive: true });
	const file = path.join(SHOTS, `${name}.png`);
	await page.screenshot({ path: file, ...opts });
	if (DOCS) {
		fs.mkdirSync(DOCS, { recursive: true });
		fs.copyFileSync(file, path.join(DOCS, `${name}.png`));
	}
}

// Waits until pred(arg), run in the page, is true. Not page.waitForFunction:
// that evaluates a string, which the page's CSP rightly refuses.
async function waitFor(page, pred, arg, opts = {}) {
	const timeout = opts.timeout ?? 10000;
	const end = Date.now() + timeout;
	for (;;) {
		if (await page.evaluate(pred, arg)) return;
		if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${pred.toString().slice(0, 160)}`);
		await new Promise((r) => setTimeout(r, opts.every ?? 20));
	}
}

// The text of a process row's cell.
async function cell(page, name, cls) {
	return page.$eval(`tr[data-name="${name}"] td.${cls}`, (e) => e.textContent.trim()).catch(() => null);
}

const MAIN_GROUPS = `  ticker:
    command: "i=0; while :; do i=$((i+1)); printf '\\\\033[32mtick %d\\\\033[0m plain\\\\n' $i; sleep 0.2; done"
    start_timeout: 0s
  victim:
    command: [sleep, '3600']
    restart: always
    start_timeout: 0s
    backoff: { initial: 50ms, max: 1s }
  scaler:
    command: [sleep, '3600']
    start_timeout: 0s
  busy:
    command: "while :; do :; done"
    start_timeout: 0s
  crasher:
    command: "echo 'crasher: cannot open /etc/crasher.conf' >&2; exit 3"
    start_timeout: 0s
    restart: always
    backoff: { initial: 50ms, max: 100ms }
    max_restarts: { count: 2, within: 1m }
  remote:
    command: [sleep, '3600']
    hosts: [node-1]
    instances: 2
    start_timeout: 0s
`;

async function main() {
	const browser = await chromium.launch({
		executablePath: env.DROVER_CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: [
			'--headless',
			'--no-sandbox',
			'--disable-gpu',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--no-first-run',
			'--enable-precise-memory-info',
		],
		// playwright gives chromium a fresh --user-data-dir of its own.
	});
	const d = new Droverd('main', MAIN_GROUPS, "queues:\n  jobs: { capacity: 1000 }\n");
	let big;
	try {
		d.keygen('node-1');
		await d.start();
		d.startAgent('node-1', { role: 'worker', zone: 'a' });
		await until('node-1 to connect and run remote:1', async () => (await d.get('/api/v1/processes/remote:1')).state === 'RUNNING', 30000, 100);
		log('droverd on', d.base, 'with an agent, node-1');
		const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
		const page = await ctx.newPage();
		watch(page, d.base);

		// ---- every view renders ----
		await page.goto(d.base + '/');
		await page.waitForSelector('#conn[data-state="live"]');
		await waitFor(page, () => document.querySelector('#count-total')?.textContent === '7');
		// A process that keeps failing is called out.
		await page.waitForSelector('#trouble a[href="#/process/crasher%3A0"]', { timeout: 10000 });
		await page.waitForSelector('#trouble .st-FATAL');
		await page.waitForSelector('#view-overview');
		await page.$eval('#count-total', (e) => e.textContent);
		for (const [hash, sel] of [
			['#/processes', 'tr[data-name="ticker:0"]'],
			['#/queues', '[data-queue="jobs"]'],
			['#/agents', '#view-agents'],
			['#/events', '#view-events'],
			['#/process/busy:0', '#view-process[data-name="busy:0"]'],
		]) {
			await page.goto(d.base + '/' + hash);
			await page.waitForSelector(sel);
		}
		await page.goto(d.base + '/#/agents');
		await page.waitForSelector('tr[data-agent="node-1"] .st-CONNECTED');
		assert.match(await page.textContent('tr[data-agent="node-1"]'), /role=worker/);
		await page.goto(d.base + '/#/processes');
		await page.waitForSelector('tr.host-head[data-host="node-1"]');
		await page.waitForSelector('tr[data-name="remote:1"] .st-RUNNING');
		log('every view renders');

		// ---- a SIGKILLed worker: new pid and restart count within 1 s ----
		await page.goto(d.base + '/#/processes');
		await waitFor(page, () => /^\d+$/.test(document.querySelector('tr[data-name="victim:0"] td.pid')?.textContent || ''));
		const oldPid = Number(await cell(page, 'victim:0', 'pid'));
		const oldRestarts = Number(await cell(page, 'victim:0', 'restarts'));
		const tKill = Date.now();
		process.kill(oldPid, 'SIGKILL');
		await waitFor(page, 
			([pid, r]) => {
				const row = document.querySelector('tr[data-name="victim:0"]');
				const p = row?.querySelector('td.pid')?.textContent;
				return row && /^\d+$/.test(p) && Number(p) !== pid && Number(row.querySelector('td.restarts').textContent) > r;
			},
			[oldPid, oldRestarts],
			{ timeout: 5000, every: 10 }
		);
		figures.kill_to_new_pid_ms = Date.now() - tKill;
		log(`SIGKILL -> new pid shown in ${figures.kill_to_new_pid_ms} ms`);
		assert.ok(figures.kill_to_new_pid_ms <= 1000, `new pid shown after ${figures.kill_to_new_pid_ms} ms`);
		await shot(page, 'processes');

		// ---- restart: refused without a token, and with a wrong one; works with it ----
		await page.goto(d.base + '/#/process/victim:0');
		await page.waitForSelector('#view-process[data-name="victim:0"] tr[data-field="pid"]');
		const before = await d.get('/api/v1/processes/victim:0');
		const sentBefore = actionRequests.length;
		await page.click('button[data-action="restart"]');
		await page.waitForSelector('dialog[open] input[name="token"]');
		await page.click('dialog[open] button[type="submit"]');
		await page.waitForSelector('dialog[open] .error');
		assert.match(await page.textContent('dialog[open] .error'), /no action is sent without it/);
		assert.equal(actionRequests.length, sentBefore, 'nothing is sent without a token');
		await page.fill('dialog[open] input[name="token"]', 'wrong-token');
		await page.click('dialog[open] button[type="submit"]');
		await waitFor(page, () => /Refused \(401\)/.test(document.querySelector('dialog[open] .error')?.textContent || ''));
		const refusal = await page.textContent('dialog[open] .error');
		assert.match(refusal, /this call needs "Authorization: Bearer <token>" with droverd's token/);
		assert.equal((await d.get('/api/v1/processes/victim:0')).pid, before.pid, 'a refused restart changes nothing');
		await shot(page, 'refused');
		await page.fill('dialog[open] input[name="token"]', TOKEN);
		await page.click('dialog[open] button[type="submit"]');
		await page.waitForSelector('dialog[open]', { state: 'detached' }).catch(() => {});
		await waitFor(page, () => !document.querySelector('dialog[open]'));
		await waitFor(page, 
			(pid) => {
				const t = document.querySelector('tr[data-field="pid"] td')?.textContent;
				return /^\d+$/.test(t || '') && Number(t) !== pid;
			},
			before.pid,
			{ timeout: 10000 }
		);
		const after = await d.get('/api/v1/processes/victim:0');
		assert.notEqual(after.pid, before.pid);
		assert.ok(actionRequests.some((r) => decodeURIComponent(r.url).endsWith('/victim:0/restart') && r.auth === 'Bearer ' + TOKEN));
		assert.ok(actionRequests.every((r) => r.auth), 'every action carried a token');
		log('restart: refused without and with a wrong token, done with it');

		// ---- a signal chosen in the dialog (TERM: victim restarts) ----
		const beforeSig = await d.get('/api/v1/processes/victim:0');
		await page.click('button[data-action="signal"]');
		await page.waitForSelector('dialog[open] select[name="value"]');
		await page.selectOption('dialog[open] select[name="value"]', 'TERM');
		await page.click('dialog[open] button[type="submit"]');
		await waitFor(page, () => !document.querySelector('dialog[open]'));
		await waitFor(
			page,
			(pid) => {
				const t = document.querySelector('tr[data-field="pid"] td')?.textContent;
				return /^\d+$/.test(t || '') && Number(t) !== pid;
			},
			beforeSig.pid,
			{ timeout: 10000 }
		);
		assert.ok(actionRequests.some((r) => decodeURIComponent(r.url).endsWith('/victim:0/signal')));
		log('SIGTERM sent from the page; victim came back with a new pid');

		// ---- charts show samples after the sampling interval ----
		await page.goto(d.base + '/#/process/busy:0');
		await waitFor(page, () => Number(document.querySelector('#chart-cpu')?.dataset.samples) >= 2 && Number(document.querySelector('#chart-rss')?.dataset.samples) >= 2, null, {
			timeout: 20000,
		});
		assert.ok(await page.$('#chart-cpu canvas'));
		log('charts show samples');
		await waitFor(page, () => !document.querySelector('.toast'), null, { timeout: 10000 });
		await shot(page, 'process', { fullPage: true });

		// ---- logs follow live and match the file ----
		await page.goto(d.base + '/#/process/ticker:0');
		await waitFor(page, () => Number(document.querySelector('#log')?.dataset.lines) > 3);
		const n0 = Number(await page.$eval('#log', (e) => e.dataset.lines));
		await waitFor(page, (n) => Number(document.querySelector('#log').dataset.lines) >= n + 5, n0, { timeout: 10000 });
		assert.ok(await page.$('#log .line span.a-fg2'), 'ANSI green is rendered as a class');
		// Pause ticker so that the page and the file can be compared at rest.
		await d.post('/api/v1/processes/ticker:0/signal', { signal: 'STOP' });
		const logs = await d.get('/api/v1/processes/ticker:0/logs?tail=1');
		const fileLines = fs
			.readFileSync(logs.path, 'utf8')
			.split('\n')
			.filter((l) => l !== '')
			.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
		await until('the page to show the file\'s last line', async () => {
			const shown = await page.$$eval('#log .line', (ls) => ls.map((l) => l.textContent));
			return shown.length > 0 && shown[shown.length - 1] === fileLines[fileLines.length - 1];
		}, 5000);
		const shown = await page.$$eval('#log .line', (ls) => ls.map((l) => l.textContent));
		assert.deepEqual(shown, fileLines.slice(-shown.length), 'the log view matches the file');
		assert.equal(await page.textContent('#follow-state'), '\u25cf following');
		await d.post('/api/v1/processes/ticker:0/signal', { signal: 'CONT' });
		// Autoscroll stops when the reader scrolls up, and new lines still come.
		await waitFor(page, (n) => Number(document.querySelector('#log').dataset.lines) > n, shown.length);
		await page.$eval('#log', (e) => (e.scrollTop = 0));
		await waitFor(page, () => /paused/.test(document.querySelector('#follow-state').textContent));
		const n1 = Number(await page.$eval('#log', (e) => e.dataset.lines));
		await waitFor(page, (n) => Number(document.querySelector('#log').dataset.lines) > n + 2, n1);
		assert.equal(await page.$eval('#log', (e) => e.scrollTop), 0, 'a paused log does not scroll');
		log(`logs: ${shown.length} lines match the file; follow stops when scrolled up`);
		await page.$eval('#log', (e) => (e.scrollTop = e.scrollHeight));
		await waitFor(page, () => /following/.test(document.querySelector('#follow-state').textContent));
		await page.$eval('.logs', (e) => e.scrollIntoView({ block: 'start' }));
		await shot(page, 'logs');

		// ---- scale a group from the page ----
		await page.goto(d.base + '/#/processes');
		await page.click('tr.group-head[data-group="scaler"] button[data-action="scale"]');
		await page.waitForSelector('dialog[open] input[name="value"]');
		assert.equal(await page.$('dialog[open] input[name="token"]'), null, 'the token is asked only once');
		await page.fill('dialog[open] input[name="value"]', '3');
		await page.click('dialog[open] button[type="submit"]');
		await page.waitForSelector('tr[data-name="scaler:2"]', { timeout: 10000 });
		assert.equal((await d.get('/api/v1/groups/scaler')).instances, 3);
		log('scaled scaler to 3 from the page');

		// ---- stop and start a group from the page ----
		await page.click('tr.group-head[data-group="scaler"] button:text-is("Stop")');
		await page.waitForSelector('dialog[open]');
		await page.click('dialog[open] button[type="submit"]');
		await page.waitForSelector('tr[data-name="scaler:2"] .st-STOPPED', { timeout: 15000 });
		await page.click('tr.group-head[data-group="scaler"] button:text-is("Start")');
		await page.waitForSelector('dialog[open]');
		await page.click('dialog[open] button[type="submit"]');
		await page.waitForSelector('tr[data-name="scaler:2"] .st-RUNNING', { timeout: 15000 });
		log('stopped and started the scaler group from the page');

		// ---- reload from the page ----
		await d.write(MAIN_GROUPS + "  added:\n    command: [sleep, '3600']\n    start_timeout: 0s\n");
		await page.click('#reload');
		await page.waitForSelector('dialog[open]');
		await page.click('dialog[open] button[type="submit"]');
		await page.waitForSelector('tr[data-name="added:0"]', { timeout: 10000 });
		// An invalid file is refused with its errors shown.
		fs.writeFileSync(path.join(d.dir, 'drover.yaml'), 'groups: [not, a, map\n');
		await page.click('#reload');
		await page.waitForSelector('dialog[open]');
		await page.click('dialog[open] button[type="submit"]');
		await page.waitForSelector('dialog[open] .error');
		assert.match(await page.textContent('dialog[open] .error'), /Refused \(422\)/);
		await shot(page, 'reload-refused');
		await page.keyboard.press('Escape');
		await waitFor(page, () => !document.querySelector('dialog[open]'));
		await d.write(MAIN_GROUPS + "  added:\n    command: [sleep, '3600']\n    start_timeout: 0s\n");
		log('reload from the page, and a refused one with its errors');

		// ---- the remaining screenshots ----
		await page.goto(d.base + '/');
		await page.waitForSelector('#view-overview');
		await shot(page, 'overview');
		await page.goto(d.base + '/#/queues');
		await waitFor(page, () => Number(document.querySelector('#chart-depth-jobs')?.dataset.samples) >= 2, null, { timeout: 20000 });
		await shot(page, 'queues');
		await page.goto(d.base + '/#/agents');
		await page.waitForSelector('#view-agents');
		await shot(page, 'agents');
		await page.goto(d.base + '/#/events');
		await page.waitForSelector('#feed li');
		await shot(page, 'events');
		const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true });
		const pp = await phone.newPage();
		watch(pp, d.base);
		await pp.goto(d.base + '/#/processes');
		await pp.waitForSelector('tr[data-name="ticker:0"]');
		const overflow = await pp.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
		assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
		await shot(pp, 'phone-dark');
		await phone.close();

		// ---- keyboard: the views are reachable by Tab and Enter ----
		await page.goto(d.base + '/');
		await page.waitForSelector('#view-overview');
		let reached = false;
		for (let i = 0; i < 12 && !reached; i++) {
			await page.keyboard.press('Tab');
			reached = await page.evaluate(() => document.activeElement?.getAttribute('href') === '#/processes');
		}
		assert.ok(reached, 'the Processes link is reachable with Tab');
		await page.keyboard.press('Enter');
		await page.waitForSelector('#view-processes');
		log('keyboard navigation works');

		// ---- droverd restarted: the page says so, and catches up ----
		await page.goto(d.base + '/#/processes');
		await page.waitForSelector('tr[data-name="victim:0"]');
		reconnectWindow = true;
		await d.stop();
		await page.waitForSelector('#conn-banner', { timeout: 10000 });
		assert.equal(await page.$eval('#conn', (e) => e.dataset.state), 'reconnecting');
		await shot(page, 'reconnecting');
		await d.start();
		await page.waitForSelector('#conn[data-state="live"]', { timeout: 20000 });
		reconnectWindow = false;
		const fresh = await d.get('/api/v1/processes/victim:0');
		await waitFor(page, (pid) => document.querySelector('tr[data-name="victim:0"] td.pid')?.textContent === String(pid), fresh.pid, {
			timeout: 10000,
		});
		assert.equal(await page.$('#conn-banner'), null);
		log('reconnected after droverd restarted, and caught up');
		reconnectWindow = true; // the page sees droverd go for good
		await page.close();
		await d.stopAgents();
		await d.stop();
		reconnectWindow = false;

		// ---- 1000 processes ----
		big = new Droverd('big', "  w:\n    command: [sleep, '3600']\n    instances: 1000\n    start_timeout: 0s\n    stdout: inherit\n    stderr: inherit\n");
		await big.start();
		await until('1000 processes running', async () => (await big.get('/api/v1/status')).states.RUNNING === 1000, 120000, 250);
		const bctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
		const bp = await bctx.newPage();
		watch(bp, big.base);
		const cdp = await bctx.newCDPSession(bp);
		await bp.goto(big.base + '/#/processes');
		await waitFor(bp, () => document.querySelector('#shown-count')?.dataset.total === '1000' && !!document.querySelector('tr[data-name="w:0"]'), null, { timeout: 30000 });
		await waitFor(bp, () => performance.getEntriesByName('drover:render').length > 0);
		figures.first_render_ms = await bp.evaluate(() => {
			const d = performance.getEntriesByName('drover:data')[0].startTime;
			const r = performance.getEntriesByName('drover:render')[0].startTime;
			return Math.round(r - d);
		});
		figures.rows_in_dom = await bp.$$eval('tr.row', (l) => l.length);
		log(`1000 processes: first render ${figures.first_render_ms} ms after the data arrived (${figures.rows_in_dom} rows in the DOM)`);
		// The window follows the scroll; the filter narrows as you type.
		await bp.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
		await waitFor(bp, () => !!document.querySelector('tr[data-name="w:999"]'));
		await bp.evaluate(() => window.scrollTo(0, 0));
		const tFilter = Date.now();
		await bp.fill('#filter', 'w:99');
		await waitFor(bp, () => document.querySelector('#shown-count').dataset.shown === '11', null, { every: 5 });
		figures.filter_ms = Date.now() - tFilter;
		await bp.fill('#filter', '');
		await waitFor(bp, () => document.querySelector('#shown-count').dataset.shown === '1000');

		// A burst of 1000 state changes (a group restart: four events each),
		// three times, with the longest animation frame measured.
		await bp.evaluate(() => {
			window.__frames = [];
			const types = PerformanceObserver.supportedEntryTypes.includes('long-animation-frame') ? ['long-animation-frame'] : ['longtask'];
			window.__frameType = types[0];
			new PerformanceObserver((l) => window.__frames.push(...l.getEntries())).observe({ type: types[0] });
		});
		const heap = async () => {
			await cdp.send('HeapProfiler.collectGarbage');
			return (await cdp.send('Runtime.getHeapUsage')).usedSize;
		};
		const heaps = [];
		const bursts = [];
		// Bursts until three kept every frame's work within the budget (five
		// at least, for the heap's trend over a longer session; eight at
		// most). A frame's time is wall time: a frame now and then stretched
		// by the scheduler (droverd forks a thousand processes on the same
		// two cores meanwhile, and other builds run there) is told apart from
		// a page that is too slow, which fails every burst.
		const clean = () => bursts.filter((b) => b.work <= 50).length;
		const minBursts = Number(env.DROVER_BURSTS || 5);
		for (let round = 0; round < Math.max(minBursts, 8) && (round < minBursts || clean() < 3); round++) {
			const old = new Map((await big.get('/api/v1/processes')).map((p) => [p.name, p.pid]));
			await bp.evaluate(() => (window.__frames = []));
			const t = Date.now();
			await big.post('/api/v1/groups/w/restart');
			const now = await until(
				'1000 new pids in the API',
				async () => {
					const l = await big.get('/api/v1/processes');
					return l.every((p) => p.state === 'RUNNING' && p.pid !== old.get(p.name)) && l;
				},
				120000,
				100
			);
			const sum = now.reduce((a, p) => a + p.restarts, 0);
			await waitFor(bp, (sum) => {
				const c = document.querySelector('#shown-count').dataset;
				return c.running === '1000' && Number(c.restarts) === sum;
			}, sum, { timeout: 30000, every: 50 });
			const pids = new Map(now.map((p) => [p.name, p.pid]));
			const rows = await bp.$$eval('tr.row', (l) => l.map((r) => [r.dataset.name, r.querySelector('td.pid').textContent]));
			for (const [name, pid] of rows) assert.equal(Number(pid), pids.get(name), `${name}'s pid on the page`);
			const frames = await bp.evaluate(() =>
				window.__frames.map((e) => ({
					d: e.duration,
					// The page's own work in the frame: its scripts, and style and layout.
					work: e.scripts ? e.scripts.reduce((a, s) => a + s.duration, 0) + (e.styleAndLayoutStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0) : e.duration,
					what: e.scripts ? `script ${Math.round(e.scripts.reduce((a, s) => a + s.duration, 0))} ms, style+layout ${Math.round(e.styleAndLayoutStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0)} ms` : '',
				}))
			);
			for (const f of frames) if (f.d > 50) log(`  a ${Math.round(f.d)} ms frame: ${f.what}`);
			bursts.push({
				ms: Date.now() - t,
				longest: Math.round(Math.max(0, ...frames.map((f) => f.d))),
				work: Math.round(Math.max(0, ...frames.map((f) => f.work))),
				over50: frames.filter((f) => f.d > 50).length,
			});
			heaps.push(await heap());
			log(`burst ${round + 1}: 1000 restarts shown in ${bursts[round].ms} ms; longest frame ${bursts[round].longest} ms; heap ${(heaps[round] / 1048576).toFixed(1)} MiB`);
		}
		figures.burst_longest_frame_ms = Math.max(...bursts.map((b) => b.longest));
		figures.burst_longest_frame_work_ms = Math.max(...bursts.map((b) => b.work));
		figures.burst_shown_ms = bursts.map((b) => b.ms);
		figures.burst_frames_over_50ms = bursts.reduce((a, b) => a + b.over50, 0);
		figures.frame_entry_type = await bp.evaluate(() => window.__frameType);
		figures.heap_mib = heaps.map((h) => +(h / 1048576).toFixed(2));
		figures.heap_growth_kib = Math.round((heaps[heaps.length - 1] - heaps[0]) / 1024);
		figures.bursts = bursts;
		figures.bursts_within_budget = clean();
		await shot(bp, 'processes-1000');
		// The overview of 1000, and the uptime ticking with no render.
		await bp.goto(big.base + '/#/');
		await bp.waitForSelector('#view-overview');

		assert.ok(figures.first_render_ms <= 300, `first render took ${figures.first_render_ms} ms (budget 300)`);
		// A frame's duration also counts the time the browser waited for a
		// core while droverd forked a thousand processes on the same two: the
		// budget holds the page's own work (scripts, style and layout) to
		// 50 ms, and the raw frame durations are reported beside it.
		// On a machine whose load is well beyond its cores the frames measure
		// the scheduler, not the page: then the budget is reported, not judged.
		figures.load_average = os.loadavg().map((l) => +l.toFixed(2));
		const overloaded = os.loadavg()[0] > 1.5 * os.cpus().length;
		if (clean() < 3 && overloaded) {
			figures.burst_budget = `not judged: load average ${figures.load_average[0]} on ${os.cpus().length} cores`;
			log(`WARNING: only ${clean()} of ${bursts.length} bursts within the frame budget, with load average ${figures.load_average[0]} on ${os.cpus().length} cores: not judged`);
		} else {
			assert.ok(clean() >= 3, `only ${clean()} of ${bursts.length} bursts kept every frame's work within 50 ms: ${JSON.stringify(bursts)}`);
			figures.burst_budget = 'held';
		}
		assert.ok(figures.heap_growth_kib <= 1024, `the heap grew ${figures.heap_growth_kib} KiB from the first burst to the last`);
		await bctx.close();
		assert.deepEqual(problems, [], problems.join('\n'));
		log('no console error, no request to another origin');
	} finally {
		fs.mkdirSync(SHOTS, { recursive: true });
		figures.machine = `${os.cpus().length} cores, ${os.cpus()[0]?.model || '?'}, chromium ${browser.version()}`;
		fs.writeFileSync(path.join(SHOTS, 'figures.json'), JSON.stringify(figures, null, 2) + '\n');
		if (DOCS) fs.writeFileSync(path.join(DOCS, 'figures.json'), JSON.stringify(figures, null, 2) + '\n');
		log('figures', JSON.stringify(figures));
		await d.stopAgents().catch(() => {});
		await d.stop().catch(() => {});
		if (big) await big.stop().catch(() => {});
		await browser.close();
		if (problems.length === 0) {
			d.cleanup();
			big?.cleanup();
		} else console.log('droverd directories kept:', d.dir, big?.dir || '');
	}
}

main().then(
	() => {
		log('ok');
		process.exit(0);
	},
	(e) => {
		console.error(e.stack || e);
		if (problems.length) console.error(problems.join('\n'));
		process.exit(1);
	}
);
