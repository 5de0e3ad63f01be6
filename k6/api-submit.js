// k6 load test of the BuildFarm HTTP API: each iteration submits one build (with an Idempotency-Key), then polls
// GET /v1/builds/{id} until the build is final or the poll budget is spent; a second scenario submits small batches
// and polls GET /v1/batches/{id}. See k6/README.md for how to run it.
//
//   BASE_URL      API root (default http://127.0.0.1:8080)
//   API_KEY       a key with the submit and read scopes (required unless the API runs with Api:DisableAuth)
//   REGISTRY      destination registry/repository prefix (default registry.example.com/k6); must pass Api:AllowedDestinations
//   POLLS         polls per build before giving up (default 30), POLL_SECONDS between polls (default 1)
//   RATE          builds per second of the submit scenario (default 20), DURATION (default 1m)
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const baseUrl = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const apiKey = __ENV.API_KEY || '';
const registry = __ENV.REGISTRY || 'registry.example.com/k6';
const polls = parseInt(__ENV.POLLS || '30', 10);
const pollSeconds = parseFloat(__ENV.POLL_SECONDS || '1');
const rate = parseInt(__ENV.RATE || '20', 10);
const duration = __ENV.DURATION || '1m';

const submitted = new Counter('buildfarm_k6_submitted');
const finished = new Counter('buildfarm_k6_finished');
const unavailable = new Counter('buildfarm_k6_unavailable');
const timeToFinal = new Trend('buildfarm_k6_time_to_final', true);

export const options = {
  scenarios: {
    submit_and_poll: {
      executor: 'constant-arrival-rate',
      rate: rate,
      timeUnit: '1s',
      duration: duration,
      preAllocatedVUs: Math.max(10, rate * 2),
      maxVUs: Math.max(50, rate * (polls + 2)),
      exec: 'submitAndPoll',
    },
    batches: {
      executor: 'constant-arrival-rate',
      rate: Math.max(1, Math.floor(rate / 10)),
      timeUnit: '1s',
      duration: duration,
      preAllocatedVUs: 5,
      maxVUs: 50,
      exec: 'submitBatch',
    },
  },
  thresholds: {
    'http_req_duration{name:submit}': ['p(95)<500'],
    'http_req_duration{name:get}': ['p(95)<200'],
    'http_req_failed{name:submit}': ['rate<0.01'],
    checks: ['rate>0.99'],
  },
};

function headers(extra) {
  const h = Object.assign({ 'Content-Type': 'application/json' }, extra || {});
  if (apiKey) {
    h.Authorization = `Bearer ${apiKey}`;
  }
  return h;
}

function spec(name) {
  return {
    context: 'git://github.com/acme/monorepo.git#refs/heads/main',
    contextSubPath: `images/${name}`,
    destinations: [`${registry}/${name}:${__VU}-${__ITER}`],
  };
}

const finalStates = ['succeeded', 'failed', 'cancelled'];

export function submitAndPoll() {
  const key = `k6-${__VU}-${__ITER}-${Date.now()}`;
  const started = Date.now();
  const res = http.post(`${baseUrl}/v1/builds`, JSON.stringify({ spec: spec('app') }),
    { headers: headers({ 'Idempotency-Key': key }), tags: { name: 'submit' } });
  if (res.status === 503) {
    unavailable.add(1);
  }
  if (!check(res, { 'submit is 202': (r) => r.status === 202 })) {
    return;
  }
  submitted.add(1);
  const id = res.json('buildId');
  for (let i = 0; i < polls; i++) {
    sleep(pollSeconds);
    const get = http.get(`${baseUrl}/v1/builds/${id}`, { headers: headers(), tags: { name: 'get' } });
    check(get, { 'get is 200': (r) => r.status === 200 });
    if (get.status === 200 && finalStates.includes(get.json('state'))) {
      finished.add(1);
      timeToFinal.add(Date.now() - started);
      return;
    }
  }
}

export function submitBatch() {
  const images = [
    { name: 'base', spec: spec('base') },
    { name: 'lib', spec: spec('lib'), dependsOn: [{ image: 'base', buildArg: 'BASE_IMAGE' }] },
    { name: 'svc', spec: spec('svc'), dependsOn: [{ image: 'lib' }] },
    { name: 'tool', spec: spec('tool') },
  ];
  const res = http.post(`${baseUrl}/v1/batches`, JSON.stringify({ source: 'k6', images: images }),
    { headers: headers(), tags: { name: 'submit' } });
  if (!check(res, { 'batch is 202': (r) => r.status === 202 })) {
    return;
  }
  const id = res.json('batchId');
  for (let i = 0; i < polls; i++) {
    sleep(pollSeconds);
    const get = http.get(`${baseUrl}/v1/batches/${id}`, { headers: headers(), tags: { name: 'get' } });
    check(get, { 'batch get is 200': (r) => r.status === 200 });
    if (get.status === 200 && get.json('done')) {
      return;
    }
  }
}
