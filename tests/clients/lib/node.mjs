// What the tests need to know about the node under test: its endpoints, the
// dev accounts, and an opt-in funding step for reference nodes (geth --dev)
// that do not fund the dev mnemonic at genesis. Library-neutral on purpose:
// plain fetch, so no client library is trusted to set up another one's test.

export const RPC_URL = process.env.COCO_RPC_URL ?? 'http://127.0.0.1:8545';
export const WS_URL = process.env.COCO_WS_URL ?? RPC_URL.replace(/^http/, 'ws');

export const MNEMONIC = 'test test test test test test test test test test test junk';

/** Accounts 0-9 of MNEMONIC (m/44'/60'/0'/0/i), funded at genesis by `coco dev`. */
export const ACCOUNTS = [
  ['0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'],
  ['0x70997970C51812dc3A010C7d01b50e0d17dc79C8', '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'],
  ['0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'],
  ['0x90F79bf6EB2c4f870365E785982E1f101E93b906', '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6'],
  ['0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65', '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a'],
  ['0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc', '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba'],
  ['0x976EA74026E726554dB657fA54763abd0C3a0aa9', '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e'],
  ['0x14dC79964da2C08b23698B3D3cc7Ca32193d9955', '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356'],
  ['0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f', '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97'],
  ['0xa0Ee7A142d267C1f36714E4a8F75612F20a79720', '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6'],
].map(([address, privateKey]) => ({ address, privateKey }));

const ETHER = 10n ** 18n;
const FUND_AMOUNT = 10_000n * ETHER;
// Top up below this, so repeated runs against one reference node stay funded.
const FUND_THRESHOLD = 1_000n * ETHER;

let nextId = 1;

/** Sends one JSON-RPC request; a JSON-RPC error becomes a thrown Error with code and data. */
export async function rpc(method, params = []) {
  let res;
  try {
    res = await fetch(RPC_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
    });
  } catch (err) {
    throw new Error(`${method}: no node at ${RPC_URL} (set COCO_RPC_URL): ${err.cause?.message ?? err.message}`, { cause: err });
  }
  if (!res.ok) throw new Error(`${method}: HTTP ${res.status} from ${RPC_URL}`);
  const body = await res.json();
  if (body.error) {
    const err = new Error(`${method}: ${body.error.message} (code ${body.error.code})`);
    err.code = body.error.code;
    err.data = body.error.data;
    throw err;
  }
  return body.result;
}

async function waitForReceipt(hash) {
  for (let i = 0; i < 600; i++) {
    const receipt = await rpc('eth_getTransactionReceipt', [hash]);
    if (receipt) return receipt;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`transaction ${hash}: no receipt after 30 s`);
}

/**
 * Funds ACCOUNTS from the node's first unlocked account when
 * COCO_TEST_FUND_FROM=unlocked (reference-node validation only; a Coco dev
 * node funds them at genesis), then checks the given accounts hold ether so
 * a misconfigured node fails here with a clear message, not deep in a test.
 */
export async function setupAccounts(indexes) {
  const mode = process.env.COCO_TEST_FUND_FROM;
  if (mode === 'unlocked') {
    const [from] = await rpc('eth_accounts');
    if (!from) throw new Error('COCO_TEST_FUND_FROM=unlocked but eth_accounts is empty');
    const hashes = [];
    for (const { address } of ACCOUNTS) {
      if (address.toLowerCase() === from.toLowerCase()) continue;
      const balance = BigInt(await rpc('eth_getBalance', [address, 'latest']));
      if (balance >= FUND_THRESHOLD) continue;
      hashes.push(await rpc('eth_sendTransaction', [{ from, to: address, value: `0x${FUND_AMOUNT.toString(16)}` }]));
    }
    for (const h of hashes) {
      const receipt = await waitForReceipt(h);
      if (receipt.status !== '0x1') throw new Error(`funding transaction ${h} failed`);
    }
  } else if (mode !== undefined && mode !== '') {
    throw new Error(`COCO_TEST_FUND_FROM=${mode}: the only supported value is "unlocked"`);
  }
  for (const i of indexes) {
    const { address } = ACCOUNTS[i];
    const balance = BigInt(await rpc('eth_getBalance', [address, 'latest']));
    if (balance < ETHER) {
      throw new Error(
        `dev account ${i} (${address}) holds ${balance} wei at ${RPC_URL}: ` +
          'the node must fund the test mnemonic at genesis (or set COCO_TEST_FUND_FROM=unlocked for a reference node)',
      );
    }
  }
}

/**
 * The account the node itself signs with (eth_accounts[0]): account 0 of the
 * mnemonic on a Coco dev node, the node's own dev key on a reference node.
 */
export async function nodeSigner() {
  const [address] = await rpc('eth_accounts');
  if (!address) throw new Error(`eth_accounts at ${RPC_URL} is empty: the node holds no dev key`);
  return address;
}

// Capabilities the node under test is known to lack, from COCO_TEST_SKIP
// (comma-separated). Only for validating the suite against a reference node:
// geth --dev has no personal_sign or eth_signTypedData_v4 and finalizes
// blocks lazily ("instant-finality"). Empty by default, so against Coco every
// test runs.
export const SKIPPABLE = ['personal_sign', 'eth_signTypedData_v4', 'instant-finality'];
const skipped = new Set(
  (process.env.COCO_TEST_SKIP ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
for (const name of skipped) {
  if (!SKIPPABLE.includes(name)) {
    throw new Error(`COCO_TEST_SKIP lists ${name}; known names: ${SKIPPABLE.join(', ')}`);
  }
}

/** A node:test `skip` option: false, or why the test is skipped. */
export function skipUnless(capability) {
  return skipped.has(capability) ? `COCO_TEST_SKIP lists ${capability}` : false;
}

/**
 * Resolves like promise, or rejects after ms naming what was awaited: an
 * event a node never delivers must fail the test, not hang the suite (a Coco
 * node makes no empty blocks, so nothing else would ever wake a listener).
 */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
