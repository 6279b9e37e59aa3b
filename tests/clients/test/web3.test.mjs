// web3.js v4 against the node: reads, fee history, contract deployment and
// method calls, past events, WebSocket subscriptions, gas estimation, revert
// handling, error messages, and the node's dev signer.
// Local keys: accounts 5 and 6. Node signer: eth_accounts[0].
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Web3, WebSocketProvider, eth as web3eth } from 'web3';
import { compileContracts } from '../lib/compile.mjs';
import { ACCOUNTS, RPC_URL, WS_URL, nodeSigner, rpc, setupAccounts, skipUnless, within } from '../lib/node.mjs';

const EVENT_WAIT_MS = 20_000;
const { CocoToken, Vault } = compileContracts();

let web3; // HTTP, keys in web3.eth.accounts.wallet sign locally
let wsWeb3; // WebSocket
let erin; // account 5
let frank; // account 6
let token; // web3.eth.Contract of CocoToken deployed by erin
let deployBlock;

function configure(w) {
  // web3 polls for receipts every second by default; the node is faster.
  w.transactionPollingInterval = 100;
  w.transactionReceiptPollingInterval = 100;
  return w;
}

before(async () => {
  await setupAccounts([5, 6]);
  web3 = configure(new Web3(RPC_URL));
  [erin, frank] = [ACCOUNTS[5], ACCOUNTS[6]].map(({ privateKey }) => {
    web3.eth.accounts.wallet.add(privateKey);
    return web3.eth.accounts.privateKeyToAccount(privateKey).address;
  });
  wsWeb3 = configure(new Web3(new WebSocketProvider(WS_URL)));
});

after(async () => {
  await wsWeb3?.currentProvider.disconnect();
});

const balanceOf = async (who) => token.methods.balanceOf(who).call();

describe('web3 reads', () => {
  test('chain id, blocks, balances and nonces', async () => {
    assert.equal(erin, ACCOUNTS[5].address);
    const chainId = await web3.eth.getChainId();
    assert.equal(chainId, BigInt(await rpc('eth_chainId')));
    assert.equal(await wsWeb3.eth.getChainId(), chainId);
    const number = await web3.eth.getBlockNumber();
    const latest = await web3.eth.getBlock('latest');
    assert.ok(latest.number >= number);
    assert.ok(latest.baseFeePerGas > 0n);
    const genesis = await web3.eth.getBlock(0);
    assert.equal((await web3.eth.getBlock('earliest')).hash, genesis.hash);
    assert.ok((await web3.eth.getBalance(erin)) > web3.utils.toWei('1', 'ether'));
    assert.equal(
      await web3.eth.getTransactionCount(erin, 'pending'),
      await web3.eth.getTransactionCount(erin, 'latest'),
    );
    assert.ok((await web3.eth.getGasPrice()) > 0n);
  });

  test('getFeeHistory', async () => {
    // Make sure there is at least one block with a transaction to report on.
    await web3.eth.sendTransaction({ from: erin, to: frank, value: 1n });
    const history = await web3.eth.getFeeHistory(4, 'latest', [25, 75]);
    const blocks = history.gasUsedRatio.length;
    assert.ok(blocks >= 1 && blocks <= 4, `blocks reported: ${blocks}`);
    assert.equal(history.baseFeePerGas.length, blocks + 1, 'base fees include the next block');
    assert.equal(history.reward.length, blocks);
    for (const r of history.reward) assert.equal(r.length, 2);
    const latest = await web3.eth.getBlockNumber();
    assert.equal(BigInt(history.oldestBlock) + BigInt(blocks) - 1n, latest);
    for (const ratio of history.gasUsedRatio) assert.ok(ratio >= 0 && ratio <= 1);
  });
});

describe('web3 contract', () => {
  const supply = 5n * 10n ** 24n;

  before(async () => {
    token = await new web3.eth.Contract(CocoToken.abi)
      .deploy({ data: CocoToken.bytecode, arguments: [supply] })
      .send({ from: erin });
    const [mint] = await token.getPastEvents('Transfer', { fromBlock: 0, filter: { to: erin } }).then((es) => es.slice(-1));
    deployBlock = mint.blockNumber;
  });

  test('deploy and read', async () => {
    assert.match(token.options.address, /^0x[0-9a-fA-F]{40}$/);
    assert.notEqual(await web3.eth.getCode(token.options.address), '0x');
    assert.equal(await token.methods.name().call(), 'Coco Token');
    assert.equal(await token.methods.totalSupply().call(), supply);
    assert.equal(await balanceOf(erin), supply);
  });

  test('estimateGas then methods.transfer().send', async () => {
    const amount = 4242n;
    const estimate = await token.methods.transfer(frank, amount).estimateGas({ from: erin });
    assert.ok(estimate > 21000n, `estimate ${estimate}`);
    const before = await balanceOf(frank);
    const receipt = await token.methods.transfer(frank, amount).send({ from: erin });
    assert.equal(receipt.status, 1n);
    assert.ok(receipt.gasUsed <= estimate, `used ${receipt.gasUsed} > estimated ${estimate}`);
    assert.equal(await balanceOf(frank), before + amount);
    const ev = receipt.events.Transfer;
    assert.equal(ev.returnValues.from, erin);
    assert.equal(ev.returnValues.to, frank);
    assert.equal(ev.returnValues.value, amount);
    assert.equal(ev.transactionHash, receipt.transactionHash);
  });

  test('getPastEvents with a filter', async () => {
    const events = await token.getPastEvents('Transfer', { filter: { from: erin, to: frank }, fromBlock: deployBlock, toBlock: 'latest' });
    assert.ok(events.length >= 1);
    for (const e of events) {
      assert.equal(e.event, 'Transfer');
      assert.equal(e.returnValues.from, erin);
      assert.equal(e.returnValues.to, frank);
    }
    const mints = await token.getPastEvents('Transfer', {
      filter: { from: '0x0000000000000000000000000000000000000000' },
      fromBlock: deployBlock,
    });
    assert.equal(mints.length, 1);
    assert.equal(mints[0].returnValues.value, supply);
  });

  test('WebSocket subscriptions: contract events, logs and new block headers', async () => {
    const watched = new wsWeb3.eth.Contract(CocoToken.abi, token.options.address);
    const amount = 99n;

    const contractSub = watched.events.Transfer({ filter: { to: frank } });
    const connected = new Promise((resolve, reject) => {
      contractSub.on('connected', resolve);
      contractSub.on('error', reject);
    });
    const contractEvent = new Promise((resolve) => {
      contractSub.on('data', (e) => e.returnValues.value === amount && resolve(e));
    });
    const transferTopic = web3.utils.keccak256('Transfer(address,address,uint256)');
    const logsSub = await wsWeb3.eth.subscribe('logs', { address: token.options.address, topics: [transferTopic] });
    const rawLog = new Promise((resolve) => logsSub.on('data', resolve));
    const headsSub = await wsWeb3.eth.subscribe('newBlockHeaders');
    const head = new Promise((resolve) => headsSub.on('data', resolve));
    await within(connected, EVENT_WAIT_MS, 'contract.events.Transfer subscription');

    try {
      const receipt = await token.methods.transfer(frank, amount).send({ from: erin });

      const e = await within(contractEvent, EVENT_WAIT_MS, 'contract.events.Transfer data');
      assert.equal(e.returnValues.from, erin);
      assert.equal(e.transactionHash, receipt.transactionHash);

      const log = await within(rawLog, EVENT_WAIT_MS, "subscribe('logs') data");
      assert.equal(log.transactionHash, receipt.transactionHash);
      const decoded = web3.eth.abi.decodeLog(
        CocoToken.abi.find((x) => x.type === 'event' && x.name === 'Transfer').inputs,
        log.data,
        log.topics.slice(1),
      );
      assert.equal(decoded.value, amount);

      const header = await within(head, EVENT_WAIT_MS, "subscribe('newBlockHeaders') data");
      assert.equal(BigInt(header.number), receipt.blockNumber);
      assert.equal(header.hash, receipt.blockHash);
    } finally {
      await Promise.all([contractSub.unsubscribe(), logsSub.unsubscribe(), headsSub.unsubscribe()]);
    }
  });
});

describe('web3 reverts', () => {
  let vault;

  before(async () => {
    vault = await new web3.eth.Contract(Vault.abi).deploy({ data: Vault.bytecode }).send({ from: frank });
  });

  test('custom error from call and send', async () => {
    const have = await balanceOf(frank);
    for (const [path, attempt] of [
      ['call', () => token.methods.spend(have + 1n).call({ from: frank })],
      ['send', () => token.methods.spend(have + 1n).send({ from: frank })],
    ]) {
      await assert.rejects(attempt, (err) => {
        assert.equal(err.name, 'ContractExecutionError', `${path}: ${err.message}`);
        assert.equal(err.cause?.errorName, 'NotEnough', path);
        assert.equal(err.cause.errorSignature, 'NotEnough(uint256,uint256)');
        assert.equal(err.cause.errorArgs.have, have);
        assert.equal(err.cause.errorArgs.want, have + 1n);
        return true;
      });
    }
  });

  test('require message and a mined revert', async () => {
    await assert.rejects(vault.methods.deposit().call({ from: frank }), (err) => {
      assert.equal(err.name, 'ContractExecutionError', err.message);
      assert.equal(err.cause?.errorName, 'Error');
      assert.equal(err.cause.errorArgs.message, 'Vault: nothing sent');
      return true;
    });
    await assert.rejects(vault.methods.withdraw(1).send({ from: frank, gas: 100_000 }), (err) => {
      assert.equal(err.name, 'TransactionRevertedWithoutReasonError', err.message);
      assert.equal(err.receipt.status, 0n);
      return true;
    });
  });

  test('payable deposit', async () => {
    const value = web3.utils.toWei('3', 'ether');
    const receipt = await vault.methods.deposit().send({ from: frank, value });
    assert.equal(receipt.status, 1n);
    assert.equal(receipt.events.Deposited.returnValues.amount, BigInt(value));
    assert.equal(await web3.eth.getBalance(vault.options.address), BigInt(value));
  });
});

describe('web3 transactions', () => {
  test('sendTransaction signs locally and moves exactly value plus fee', async () => {
    const value = web3.utils.toWei('0.2', 'ether');
    const [eBefore, fBefore] = await Promise.all([web3.eth.getBalance(erin), web3.eth.getBalance(frank)]);
    const receipt = await web3.eth.sendTransaction({ from: erin, to: frank, value });
    assert.equal(receipt.status, 1n);
    assert.equal(receipt.type, 2n);
    assert.equal(await web3.eth.getBalance(frank), fBefore + BigInt(value));
    assert.equal(await web3.eth.getBalance(erin), eBefore - BigInt(value) - receipt.gasUsed * receipt.effectiveGasPrice);
  });

  test('legacy transaction', async () => {
    const gasPrice = await web3.eth.getGasPrice();
    const receipt = await web3.eth.sendTransaction({ from: erin, to: frank, value: 1n, gasPrice, type: 0 });
    assert.equal(receipt.status, 1n);
    assert.equal(receipt.type, 0n);
    const tx = await web3.eth.getTransaction(receipt.transactionHash);
    assert.equal(tx.chainId, await web3.eth.getChainId());
  });

  test('nonce too low and insufficient funds carry the node message', async () => {
    // web3 replays a transaction with eth_call before sending it
    // (checkRevertBeforeSending), so a failure may come from that call
    // (message in err.reason) or from eth_sendRawTransaction (err.message).
    // Value 2 keeps the stale transaction distinct from erin's first one.
    const text = (err) => [err.message, err.reason, err.cause?.message].filter(Boolean).join(' | ');
    await assert.rejects(web3.eth.sendTransaction({ from: erin, to: frank, value: 2n, nonce: 0, gas: 21000 }), (err) => {
      assert.match(text(err), /nonce too low/);
      return true;
    });
    const balance = await web3.eth.getBalance(frank);
    await assert.rejects(web3.eth.sendTransaction({ from: frank, to: erin, value: balance, gas: 21000 }), (err) => {
      assert.match(text(err), /insufficient funds/);
      return true;
    });
    assert.equal(await web3.eth.getBalance(frank), balance, 'nothing was spent');
  });
});

describe('web3 with the node as signer', () => {
  let address;

  before(async () => {
    address = await nodeSigner();
  });

  test('getAccounts and sendTransaction (eth_sendTransaction)', async () => {
    const accounts = await web3.eth.getAccounts();
    assert.equal(accounts[0].toLowerCase(), address.toLowerCase());
    const to = web3.eth.accounts.create().address;
    const receipt = await web3.eth.sendTransaction({ from: address, to, value: 9n });
    assert.equal(receipt.status, 1n);
    assert.equal(receipt.from.toLowerCase(), address.toLowerCase());
    assert.equal(await web3.eth.getBalance(to), 9n);
  });

  test('personal.sign (personal_sign)', { skip: skipUnless('personal_sign') }, async () => {
    const message = 'web3 asks the node to sign';
    const signature = await web3.eth.personal.sign(message, address, '');
    assert.equal(web3.eth.accounts.recover(message, signature).toLowerCase(), address.toLowerCase());
  });

  test('signTypedData (eth_signTypedData_v4)', { skip: skipUnless('eth_signTypedData_v4') }, async () => {
    const typedData = {
      types: {
        EIP712Domain: [
          { name: 'name', type: 'string' },
          { name: 'version', type: 'string' },
          { name: 'chainId', type: 'uint256' },
        ],
        Note: [{ name: 'text', type: 'string' }],
      },
      primaryType: 'Note',
      domain: { name: 'Coco', version: '1', chainId: Number(await web3.eth.getChainId()) },
      message: { text: 'typed data from web3' },
    };
    const signature = await web3.eth.signTypedData(address, typedData);
    const hash = web3eth.abi.getEncodedEip712Data(typedData, true);
    assert.equal(web3.eth.accounts.recover(hash, signature, true).toLowerCase(), address.toLowerCase());
  });
});
