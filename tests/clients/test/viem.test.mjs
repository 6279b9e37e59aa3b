// viem v2 against the node: public and wallet clients over HTTP (with JSON-RPC
// batching) and WebSocket, deployment, reads and writes, revert decoding,
// logs and event subscriptions, fee estimation, and the node's dev signer.
// Local keys: accounts 3 and 4. Node signer: eth_accounts[0].
// Multicall is not tested: no multicall3 contract is deployed on the node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BaseError,
  ContractFunctionRevertedError,
  InsufficientFundsError,
  NonceTooLowError,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  parseAbiItem,
  parseEther,
  parseGwei,
  verifyMessage,
  verifyTypedData,
  webSocket,
} from 'viem';
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';
import { compileContracts } from '../lib/compile.mjs';
import { ACCOUNTS, MNEMONIC, RPC_URL, WS_URL, nodeSigner, rpc, setupAccounts, skipUnless, within } from '../lib/node.mjs';

const EVENT_WAIT_MS = 20_000;
const POLL_MS = 100; // viem's default follows the chain's block time; keep waits short
const { CocoToken, Vault } = compileContracts();
const transferEvent = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');

const carol = privateKeyToAccount(ACCOUNTS[3].privateKey);
const dave = privateKeyToAccount(ACCOUNTS[4].privateKey);

let chain;
let publicClient; // HTTP, batched
let wsClient; // WebSocket
let carolWallet;
let daveWallet;
let token; // address of CocoToken deployed by carol
const batchSizes = []; // sizes of the JSON-RPC batches publicClient sent

before(async () => {
  await setupAccounts([3, 4]);
  const probe = createPublicClient({ transport: http(RPC_URL) });
  const id = await probe.getChainId();
  chain = defineChain({
    id,
    name: 'Coco',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [RPC_URL], webSocket: [WS_URL] } },
  });
  publicClient = createPublicClient({
    chain,
    pollingInterval: POLL_MS,
    transport: http(RPC_URL, {
      batch: true,
      async onFetchRequest(request) {
        const body = JSON.parse(await request.clone().text());
        if (Array.isArray(body)) batchSizes.push(body.length);
      },
    }),
  });
  wsClient = createPublicClient({ chain, pollingInterval: POLL_MS, transport: webSocket(WS_URL) });
  carolWallet = createWalletClient({ account: carol, chain, pollingInterval: POLL_MS, transport: http(RPC_URL) });
  daveWallet = createWalletClient({ account: dave, chain, pollingInterval: POLL_MS, transport: webSocket(WS_URL) });
});

after(async () => {
  // The WebSocket RPC client is shared per URL; closing it lets the process exit.
  await (await wsClient?.transport.getRpcClient())?.close();
});

describe('viem clients', () => {
  test('chain, blocks and accounts over HTTP and WebSocket', async () => {
    assert.equal(mnemonicToAccount(MNEMONIC, { addressIndex: 3 }).address, carol.address);
    assert.equal(chain.id, Number(BigInt(await rpc('eth_chainId'))));
    assert.equal(await wsClient.getChainId(), chain.id);
    const [httpNumber, wsNumber] = await Promise.all([publicClient.getBlockNumber(), wsClient.getBlockNumber()]);
    assert.equal(httpNumber, wsNumber);
    const finalized = await publicClient.getBlock({ blockTag: 'finalized' });
    assert.ok(finalized.number <= httpNumber);
    assert.ok((await publicClient.getBalance({ address: carol.address })) > parseEther('1'));
    assert.ok((await wsClient.getBalance({ address: dave.address })) > parseEther('1'));
  });

  test('finality is immediate: safe = finalized = latest', { skip: skipUnless('instant-finality') }, async () => {
    const [latest, safe, finalized] = await Promise.all(
      ['latest', 'safe', 'finalized'].map((blockTag) => publicClient.getBlock({ blockTag })),
    );
    assert.equal(safe.hash, latest.hash);
    assert.equal(finalized.hash, latest.hash);
  });

  test('concurrent reads go out as one JSON-RPC batch', async () => {
    batchSizes.length = 0;
    const addresses = ACCOUNTS.map((a) => a.address);
    const [balances, number, count] = await Promise.all([
      Promise.all(addresses.map((address) => publicClient.getBalance({ address }))),
      publicClient.getBlockNumber({ cacheTime: 0 }),
      publicClient.getTransactionCount({ address: carol.address, blockTag: 'pending' }),
    ]);
    assert.equal(balances.length, addresses.length);
    for (const [i, b] of balances.entries()) {
      assert.equal(b, BigInt(await rpc('eth_getBalance', [addresses[i], 'latest'])), `balance of account ${i}`);
    }
    assert.equal(typeof number, 'bigint');
    assert.equal(count, Number(BigInt(await rpc('eth_getTransactionCount', [carol.address, 'pending']))));
    assert.ok(batchSizes.some((n) => n >= addresses.length), `batches sent: ${JSON.stringify(batchSizes)}`);
  });

  test('estimateFeesPerGas', async () => {
    const eip1559 = await publicClient.estimateFeesPerGas();
    assert.ok(eip1559.maxFeePerGas > 0n);
    assert.ok(eip1559.maxPriorityFeePerGas >= 0n);
    assert.ok(eip1559.maxFeePerGas >= eip1559.maxPriorityFeePerGas);
    const legacy = await publicClient.estimateFeesPerGas({ type: 'legacy' });
    assert.ok(legacy.gasPrice > 0n);
    const history = await publicClient.getFeeHistory({ blockCount: 2, rewardPercentiles: [50] });
    assert.ok(history.baseFeePerGas.length >= 1);
  });
});

describe('viem contracts', () => {
  const supply = 10n ** 24n;
  let deployReceipt;

  before(async () => {
    const hash = await carolWallet.deployContract({ abi: CocoToken.abi, bytecode: CocoToken.bytecode, args: [supply] });
    deployReceipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(deployReceipt.status, 'success');
    token = deployReceipt.contractAddress;
  });

  test('deployContract and readContract', async () => {
    assert.match(token, /^0x[0-9a-fA-F]{40}$/);
    assert.ok((await publicClient.getCode({ address: token })).length > 2);
    const read = (functionName, args = []) => publicClient.readContract({ address: token, abi: CocoToken.abi, functionName, args });
    assert.equal(await read('symbol'), 'COCO');
    assert.equal(await read('decimals'), 18);
    assert.equal(await read('totalSupply'), supply);
    assert.equal(await read('balanceOf', [carol.address]), supply);
  });

  test('simulate, write and read back a transfer', async () => {
    const amount = 12_345n;
    const before = await publicClient.readContract({ address: token, abi: CocoToken.abi, functionName: 'balanceOf', args: [dave.address] });
    const { request, result } = await publicClient.simulateContract({
      account: carol,
      address: token,
      abi: CocoToken.abi,
      functionName: 'transfer',
      args: [dave.address, amount],
    });
    assert.equal(result, true);
    const hash = await carolWallet.writeContract(request);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.from.toLowerCase(), carol.address.toLowerCase());
    const after = await publicClient.readContract({ address: token, abi: CocoToken.abi, functionName: 'balanceOf', args: [dave.address] });
    assert.equal(after, before + amount);

    const block = await publicClient.getBlock({ blockNumber: receipt.blockNumber, includeTransactions: true });
    assert.equal(block.hash, receipt.blockHash);
    const tx = block.transactions.find((t) => t.hash === hash);
    assert.ok(tx, 'the block lists the transaction object');
    assert.equal(tx.from.toLowerCase(), carol.address.toLowerCase());
    assert.equal(tx.to.toLowerCase(), token.toLowerCase());
    assert.equal(tx.blockNumber, receipt.blockNumber);
  });

  test('getLogs with an event filter', async () => {
    const logs = await publicClient.getLogs({
      address: token,
      event: transferEvent,
      args: { to: dave.address },
      fromBlock: deployReceipt.blockNumber,
      toBlock: 'latest',
    });
    assert.ok(logs.length >= 1);
    for (const log of logs) {
      assert.equal(log.eventName, 'Transfer');
      assert.equal(log.args.from.toLowerCase(), carol.address.toLowerCase());
      assert.equal(log.args.to.toLowerCase(), dave.address.toLowerCase());
      assert.equal(typeof log.args.value, 'bigint');
    }
    const mints = await publicClient.getContractEvents({
      address: token,
      abi: CocoToken.abi,
      eventName: 'Transfer',
      args: { from: '0x0000000000000000000000000000000000000000' },
      fromBlock: deployReceipt.blockNumber,
    });
    assert.equal(mints.length, 1);
    assert.equal(mints[0].args.value, supply);
  });

  test('watchContractEvent over WebSocket', async () => {
    const amount = 77n;
    let unwatch;
    const seen = new Promise((resolve, reject) => {
      unwatch = wsClient.watchContractEvent({
        address: token,
        abi: CocoToken.abi,
        eventName: 'Transfer',
        args: { from: carol.address },
        onLogs: (logs) => {
          const log = logs.find((l) => l.args.value === amount);
          if (log) resolve(log);
        },
        onError: reject,
      });
    });
    try {
      // viem does not expose when eth_subscribe is answered; a round trip on
      // the same socket after it was sent is the closest we can wait for.
      await wsClient.getBlockNumber({ cacheTime: 0 });
      const hash = await carolWallet.writeContract({
        address: token,
        abi: CocoToken.abi,
        functionName: 'transfer',
        args: [dave.address, amount],
      });
      const log = await within(seen, EVENT_WAIT_MS, 'Transfer via viem watchContractEvent');
      assert.equal(log.transactionHash, hash);
      assert.equal(log.args.to.toLowerCase(), dave.address.toLowerCase());
      const receipt = await wsClient.waitForTransactionReceipt({ hash });
      assert.equal(log.blockNumber, receipt.blockNumber);
    } finally {
      unwatch?.();
    }
  });

  test('simulateContract decodes the custom error', async () => {
    const have = await publicClient.readContract({ address: token, abi: CocoToken.abi, functionName: 'balanceOf', args: [dave.address] });
    const err = await publicClient
      .simulateContract({ account: dave, address: token, abi: CocoToken.abi, functionName: 'spend', args: [have + 1n] })
      .then(() => null, (e) => e);
    assert.ok(err instanceof BaseError, `expected a viem error, got ${err}`);
    const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
    assert.ok(reverted, `no ContractFunctionRevertedError in: ${err.message}`);
    assert.equal(reverted.data?.errorName, 'NotEnough');
    assert.deepEqual(reverted.data.args, [have, have + 1n]);
  });

  test('require message and a payable call', async () => {
    const hash = await daveWallet.deployContract({ abi: Vault.abi, bytecode: Vault.bytecode });
    const { contractAddress: vault } = await publicClient.waitForTransactionReceipt({ hash });

    const err = await publicClient
      .simulateContract({ account: dave, address: vault, abi: Vault.abi, functionName: 'deposit', value: 0n })
      .then(() => null, (e) => e);
    const reverted = err?.walk((e) => e instanceof ContractFunctionRevertedError);
    assert.ok(reverted, `no ContractFunctionRevertedError in: ${err?.message}`);
    assert.equal(reverted.reason, 'Vault: nothing sent');

    const value = parseEther('1');
    const { request } = await publicClient.simulateContract({ account: dave, address: vault, abi: Vault.abi, functionName: 'deposit', value });
    const receipt = await publicClient.waitForTransactionReceipt({ hash: await daveWallet.writeContract(request) });
    assert.equal(receipt.status, 'success');
    assert.equal(await publicClient.getBalance({ address: vault }), value);
    assert.equal(await publicClient.readContract({ address: vault, abi: Vault.abi, functionName: 'deposits', args: [dave.address] }), value);
  });
});

describe('viem transactions', () => {
  test('sendTransaction with estimated fees moves exactly value plus fee', async () => {
    const value = parseEther('0.1');
    const [carolBefore, daveBefore] = await Promise.all([
      publicClient.getBalance({ address: carol.address }),
      publicClient.getBalance({ address: dave.address }),
    ]);
    const hash = await carolWallet.sendTransaction({ to: dave.address, value });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.type, 'eip1559');
    assert.equal(await publicClient.getBalance({ address: dave.address }), daveBefore + value);
    assert.equal(
      await publicClient.getBalance({ address: carol.address }),
      carolBefore - value - receipt.gasUsed * receipt.effectiveGasPrice,
    );
  });

  test('legacy and EIP-2930 transactions', async () => {
    const gasPrice = await publicClient.getGasPrice();
    const legacy = await carolWallet.sendTransaction({ type: 'legacy', to: dave.address, value: 1n, gasPrice });
    const r0 = await publicClient.waitForTransactionReceipt({ hash: legacy });
    assert.equal(r0.type, 'legacy');
    const t0 = await publicClient.getTransaction({ hash: legacy });
    assert.equal(t0.chainId, chain.id, 'EIP-155 replay protection');

    const accessList = [{ address: token, storageKeys: [`0x${'0'.repeat(63)}2`] }];
    const al = await carolWallet.sendTransaction({ type: 'eip2930', to: dave.address, value: 1n, gasPrice, accessList });
    const r1 = await publicClient.waitForTransactionReceipt({ hash: al });
    assert.equal(r1.type, 'eip2930');
    const t1 = await publicClient.getTransaction({ hash: al });
    assert.equal(t1.accessList[0].address.toLowerCase(), token.toLowerCase());
    assert.deepEqual(t1.accessList[0].storageKeys, accessList[0].storageKeys);
  });

  test('nonce too low and insufficient funds are typed errors', async () => {
    const err = await carolWallet
      .sendTransaction({ to: dave.address, value: 1n, nonce: 0, gas: 21_000n })
      .then(() => null, (e) => e);
    assert.ok(err?.walk((e) => e instanceof NonceTooLowError), `expected NonceTooLowError, got: ${err?.message}`);

    const empty = createWalletClient({ account: privateKeyToAccount(generatePrivateKey()), chain, transport: http(RPC_URL) });
    const poor = await empty
      .sendTransaction({ to: dave.address, value: parseEther('1'), gas: 21_000n, maxFeePerGas: parseGwei('10'), maxPriorityFeePerGas: 1n })
      .then(() => null, (e) => e);
    assert.ok(poor?.walk((e) => e instanceof InsufficientFundsError), `expected InsufficientFundsError, got: ${poor?.message}`);
  });
});

describe('viem with the node as signer', () => {
  let nodeWallet;
  let address;

  before(async () => {
    address = await nodeSigner();
    nodeWallet = createWalletClient({ chain, pollingInterval: POLL_MS, transport: http(RPC_URL) });
  });

  test('getAddresses and sendTransaction (eth_sendTransaction)', async () => {
    const addresses = await nodeWallet.getAddresses();
    assert.equal(addresses[0].toLowerCase(), address.toLowerCase());
    const to = privateKeyToAccount(generatePrivateKey()).address;
    const hash = await nodeWallet.sendTransaction({ account: addresses[0], to, value: 5n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.from.toLowerCase(), address.toLowerCase());
    assert.equal(await publicClient.getBalance({ address: to }), 5n);
  });

  test('signMessage (personal_sign)', { skip: skipUnless('personal_sign') }, async () => {
    const message = 'viem asks the node to sign';
    const signature = await nodeWallet.signMessage({ account: address, message });
    assert.equal(await verifyMessage({ address, message, signature }), true);
  });

  test('signTypedData (eth_signTypedData_v4)', { skip: skipUnless('eth_signTypedData_v4') }, async () => {
    const typed = {
      domain: { name: 'Coco', version: '1', chainId: chain.id, verifyingContract: token },
      types: { Ping: [{ name: 'who', type: 'address' }, { name: 'n', type: 'uint256' }] },
      primaryType: 'Ping',
      message: { who: carol.address, n: 42n },
    };
    const signature = await nodeWallet.signTypedData({ account: address, ...typed });
    assert.equal(await verifyTypedData({ address, signature, ...typed }), true);
  });
});
