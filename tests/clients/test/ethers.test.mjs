// ethers v6 against the node: provider reads, contract deployment and calls,
// events over polling and WebSocket, revert decoding, the three transaction
// types, go-ethereum error mapping, and the node's own dev signer.
// Local keys: accounts 1 and 2. Node signer: eth_accounts[0].
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbiCoder,
  ContractFactory,
  HDNodeWallet,
  JsonRpcProvider,
  Mnemonic,
  Transaction,
  Wallet,
  WebSocketProvider,
  ZeroAddress,
  isError,
  keccak256,
  parseEther,
  parseUnits,
  verifyMessage,
  verifyTypedData,
} from 'ethers';
import { compileContracts } from '../lib/compile.mjs';
import { ACCOUNTS, MNEMONIC, RPC_URL, WS_URL, nodeSigner, rpc, setupAccounts, skipUnless, within } from '../lib/node.mjs';

const EVENT_WAIT_MS = 20_000;
const { CocoToken, Vault } = compileContracts();

let provider; // JsonRpcProvider (HTTP, batching and polling)
let alice; // account 1
let bob; // account 2
let chainId;
let token; // CocoToken deployed by alice
let deployBlock;

before(async () => {
  await setupAccounts([1, 2]);
  // Two options, otherwise stock. pollingInterval 100 ms instead of 4 s keeps
  // tx.wait() fast. cacheTimeout -1: by default ethers answers a repeated
  // request made within 250 ms from cache, so right after a receipt it would
  // return the previous nonce or balance; with blocks as fast as a Coco
  // node's (or geth --dev's) that yields "nonce too low".
  provider = new JsonRpcProvider(RPC_URL, undefined, { pollingInterval: 100, cacheTimeout: -1 });
  alice = new Wallet(ACCOUNTS[1].privateKey, provider);
  bob = new Wallet(ACCOUNTS[2].privateKey, provider);
  chainId = (await provider.getNetwork()).chainId;
});

after(() => provider?.destroy());

describe('ethers provider', () => {
  test('chain id and block number', async () => {
    assert.equal(chainId, BigInt(await rpc('eth_chainId')));
    assert.equal(String(chainId), await rpc('net_version'));
    const n = await provider.getBlockNumber();
    assert.ok(n >= 0);
  });

  test('blocks by tag: latest, finalized, safe, earliest', async () => {
    const latest = await provider.getBlock('latest');
    assert.ok(latest, 'latest block');
    assert.match(latest.hash, /^0x[0-9a-f]{64}$/);
    assert.ok(latest.number >= 0);
    assert.ok(latest.baseFeePerGas !== null, 'London fields present');

    const finalized = await provider.getBlock('finalized');
    const safe = await provider.getBlock('safe');
    assert.ok(finalized && safe, 'finalized and safe blocks exist');
    assert.ok(finalized.number <= safe.number && safe.number <= latest.number);

    const earliest = await provider.getBlock('earliest');
    assert.equal(earliest.number, 0);
    assert.equal(earliest.parentHash, `0x${'0'.repeat(64)}`);
    const byNumber = await provider.getBlock(0);
    assert.equal(byNumber.hash, earliest.hash);
    if (latest.number > 0) {
      const parent = await provider.getBlock(latest.number - 1);
      assert.equal(latest.parentHash, parent.hash);
    }
  });

  test('finality is immediate: safe = finalized = latest', { skip: skipUnless('instant-finality') }, async () => {
    const [latest, safe, finalized] = await Promise.all(['latest', 'safe', 'finalized'].map((t) => provider.getBlock(t)));
    assert.equal(finalized.hash, latest.hash);
    assert.equal(safe.hash, latest.hash);
  });

  test('fee data', async () => {
    const fees = await provider.getFeeData();
    assert.ok(fees.gasPrice > 0n, 'gasPrice');
    assert.ok(fees.maxFeePerGas > 0n, 'maxFeePerGas');
    assert.ok(fees.maxPriorityFeePerGas !== null, 'maxPriorityFeePerGas');
    assert.ok(fees.maxFeePerGas >= fees.maxPriorityFeePerGas);
  });

  test('balances and nonces of the dev accounts', async () => {
    assert.equal(HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(MNEMONIC), "m/44'/60'/0'/0/1").address, alice.address);
    assert.ok((await provider.getBalance(alice.address)) > parseEther('1'));
    assert.ok((await provider.getBalance(bob.address)) > parseEther('1'));
    const pending = await provider.getTransactionCount(alice.address, 'pending');
    const latest = await provider.getTransactionCount(alice.address, 'latest');
    assert.equal(pending, latest, 'nothing of ours is pending between tests');
    const fresh = Wallet.createRandom();
    assert.equal(await provider.getBalance(fresh.address), 0n);
    assert.equal(await provider.getTransactionCount(fresh.address, 'pending'), 0);
    assert.equal(await provider.getCode(fresh.address), '0x');
  });
});

describe('ethers ERC-20', () => {
  const supply = parseUnits('1000000', 18);

  before(async () => {
    const factory = new ContractFactory(CocoToken.abi, CocoToken.bytecode, alice);
    token = await factory.deploy(supply);
    const receipt = await token.deploymentTransaction().wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.contractAddress, await token.getAddress());
    deployBlock = receipt.blockNumber;
  });

  test('deployment: code and ERC-20 metadata', async () => {
    const address = await token.getAddress();
    assert.notEqual(await provider.getCode(address), '0x');
    assert.equal(await token.name(), 'Coco Token');
    assert.equal(await token.symbol(), 'COCO');
    assert.equal(await token.decimals(), 18n);
    assert.equal(await token.totalSupply(), supply);
    assert.equal(await token.balanceOf(alice.address), supply);
    // OpenZeppelin's ERC20 keeps _balances in slot 0: eth_getStorageAt agrees.
    const slot = keccak256(AbiCoder.defaultAbiCoder().encode(['address', 'uint256'], [alice.address, 0]));
    assert.equal(BigInt(await provider.getStorage(address, slot)), supply);
  });

  test('transfer moves balances and emits Transfer', async () => {
    const amount = parseUnits('1500', 18);
    const before = await token.balanceOf(bob.address);
    const tx = await token.transfer(bob.address, amount);
    const receipt = await tx.wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.from, alice.address);
    assert.equal(receipt.to, await token.getAddress());
    assert.equal(await token.balanceOf(bob.address), before + amount);
    assert.equal(receipt.logs.length, 1);
    const [log] = receipt.logs;
    assert.equal(log.eventName, 'Transfer');
    assert.deepEqual([...log.args], [alice.address, bob.address, amount]);
    assert.equal(log.transactionHash, tx.hash);
    assert.equal(log.blockHash, receipt.blockHash);

    const got = await provider.getTransaction(tx.hash);
    assert.equal(got.blockNumber, receipt.blockNumber);
    assert.equal(got.from, alice.address);
  });

  test('queryFilter finds past Transfer events', async () => {
    const mints = await token.queryFilter(token.filters.Transfer(ZeroAddress, alice.address), deployBlock);
    assert.equal(mints.length, 1);
    assert.equal(mints[0].args.value, supply);
    assert.equal(mints[0].blockNumber, deployBlock);

    const toBob = await token.queryFilter(token.filters.Transfer(alice.address, bob.address), deployBlock, 'latest');
    assert.ok(toBob.length >= 1);
    for (const e of toBob) {
      assert.equal(e.args.from, alice.address);
      assert.equal(e.args.to, bob.address);
    }
    const all = await token.queryFilter('Transfer', deployBlock);
    assert.equal(all.length, mints.length + toBob.length);
  });

  test('contract.on delivers Transfer over polling HTTP', async () => {
    const amount = 7n;
    let resolve;
    const seen = new Promise((r) => (resolve = r));
    // For a prepared filter ethers passes just the ContractEventPayload
    // (decoded values in .args); for an event name it passes the values
    // first. The payload is always last.
    await token.on(token.filters.Transfer(alice.address, bob.address), (...args) => {
      const event = args.at(-1);
      const [from, to, value] = event.args;
      if (value === amount) resolve({ from, to, value, event });
    });
    try {
      const tx = await token.transfer(bob.address, amount);
      await tx.wait();
      const got = await within(seen, EVENT_WAIT_MS, 'Transfer via contract.on (HTTP polling)');
      assert.equal(got.from, alice.address);
      assert.equal(got.to, bob.address);
      assert.equal(got.event.log.transactionHash, tx.hash);
    } finally {
      await token.removeAllListeners();
    }
  });

  test('contract.on delivers Transfer over a WebSocket subscription', async () => {
    const ws = new WebSocketProvider(WS_URL);
    try {
      assert.equal((await ws.getNetwork()).chainId, chainId);
      const watched = token.connect(ws);
      const amount = 11n;
      let resolve;
      const seen = new Promise((r) => (resolve = r));
      await watched.on('Transfer', (from, to, value, event) => {
        if (from === alice.address && value === amount) resolve({ from, to, value, event });
      });
      // ethers does not expose when eth_subscribe is answered; a round trip
      // on the same socket after it was sent is the closest we can wait for.
      await ws.getBlockNumber();
      const tx = await token.transfer(bob.address, amount);
      const receipt = await tx.wait();
      const got = await within(seen, EVENT_WAIT_MS, 'Transfer via WebSocket eth_subscribe');
      assert.equal(got.to, bob.address);
      assert.equal(got.event.log.transactionHash, tx.hash);
      assert.equal(got.event.log.blockNumber, receipt.blockNumber);
      await watched.removeAllListeners();
    } finally {
      await ws.destroy();
    }
  });
});

describe('ethers revert decoding', () => {
  let vault;

  before(async () => {
    vault = await new ContractFactory(Vault.abi, Vault.bytecode, bob).deploy();
    await vault.waitForDeployment();
  });

  test('custom error from estimateGas and from call', async () => {
    const have = await token.balanceOf(bob.address);
    const want = have + 1n;
    const asBob = token.connect(bob);
    // eth_call: ethers decodes the revert against the contract's ABI.
    await assert.rejects(asBob.spend.staticCall(want), (err) => {
      assert.ok(isError(err, 'CALL_EXCEPTION'), `${err.code}: ${err.message}`);
      assert.equal(err.revert?.name, 'NotEnough');
      assert.deepEqual([...err.revert.args], [have, want]);
      return true;
    });
    // eth_estimateGas (directly, and as the first step of sending): ethers
    // only knows built-in errors there, so it hands over the revert data,
    // which the node must return, for the contract's interface to decode.
    for (const [path, attempt] of [
      ['estimateGas', () => asBob.spend.estimateGas(want)],
      ['send', () => asBob.spend(want)],
    ]) {
      await assert.rejects(attempt, (err) => {
        assert.ok(isError(err, 'CALL_EXCEPTION'), `${path}: ${err.code} ${err.message}`);
        assert.equal(err.action, 'estimateGas', path);
        const decoded = token.interface.parseError(err.data);
        assert.equal(decoded?.name, 'NotEnough', path);
        assert.deepEqual([...decoded.args], [have, want], path);
        return true;
      });
    }
  });

  test("OpenZeppelin's own custom error", async () => {
    const balance = await token.balanceOf(bob.address);
    await assert.rejects(token.connect(bob).transfer.staticCall(alice.address, balance + 1n), (err) => {
      assert.ok(isError(err, 'CALL_EXCEPTION'));
      assert.equal(err.revert?.name, 'ERC20InsufficientBalance');
      assert.deepEqual([...err.revert.args], [bob.address, balance, balance + 1n]);
      return true;
    });
  });

  test('require message from estimateGas and from call', async () => {
    await assert.rejects(vault.deposit.estimateGas({ value: 0 }), (err) => {
      assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
      assert.equal(err.reason, 'Vault: nothing sent');
      assert.equal(err.revert?.name, 'Error');
      return true;
    });
    await assert.rejects(vault.withdraw.staticCall(1n), (err) => {
      assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
      assert.equal(err.reason, 'Vault: not enough deposited');
      return true;
    });
  });

  test('a mined revert has receipt status 0', async () => {
    const tx = await vault.withdraw(1n, { gasLimit: 100_000n });
    await assert.rejects(tx.wait(), (err) => {
      assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
      assert.equal(err.receipt.status, 0);
      assert.equal(err.receipt.hash, tx.hash);
      return true;
    });
  });

  test('payable deposit and withdraw move ether', async () => {
    const address = await vault.getAddress();
    const value = parseEther('2');
    const receipt = await (await vault.deposit({ value })).wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.logs[0].eventName, 'Deposited');
    assert.deepEqual([...receipt.logs[0].args], [bob.address, value]);
    assert.equal(await provider.getBalance(address), value);
    assert.equal(await vault.deposits(bob.address), value);

    const before = await provider.getBalance(bob.address);
    const w = await (await vault.withdraw(value)).wait();
    assert.equal(await provider.getBalance(address), 0n);
    assert.equal(await provider.getBalance(bob.address), before + value - w.gasUsed * w.gasPrice);
  });
});

describe('ethers transactions', () => {
  test('send with default fee estimation', async () => {
    const value = parseEther('0.5');
    const aliceBefore = await provider.getBalance(alice.address);
    const bobBefore = await provider.getBalance(bob.address);
    const tx = await alice.sendTransaction({ to: bob.address, value });
    assert.equal(tx.type, 2, 'ethers picks EIP-1559 when blocks carry a base fee');
    const receipt = await tx.wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.gasUsed, 21000n);
    assert.equal(await provider.getBalance(bob.address), bobBefore + value);
    assert.equal(await provider.getBalance(alice.address), aliceBefore - value - receipt.gasUsed * receipt.gasPrice);
  });

  test('raw legacy EIP-155 transaction', async () => {
    const { gasPrice } = await provider.getFeeData();
    const signed = await alice.signTransaction(
      await alice.populateTransaction({ type: 0, to: bob.address, value: 1000n, gasPrice }),
    );
    const parsed = Transaction.from(signed);
    assert.equal(parsed.type, 0);
    assert.equal(parsed.chainId, chainId);
    const sent = await provider.broadcastTransaction(signed);
    assert.equal(sent.hash, parsed.hash);
    const receipt = await sent.wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.type, 0);

    const raw = await rpc('eth_getTransactionByHash', [sent.hash]);
    assert.equal(raw.type, '0x0');
    const v = BigInt(raw.v);
    assert.ok(v === chainId * 2n + 35n || v === chainId * 2n + 36n, `EIP-155 v, got ${v}`);
    const got = await provider.getTransaction(sent.hash);
    assert.equal(got.chainId, chainId);
    assert.equal(got.gasPrice, gasPrice);
  });

  test('EIP-2930 transaction with an access list', async () => {
    const address = await token.getAddress();
    const slot = keccak256(AbiCoder.defaultAbiCoder().encode(['address', 'uint256'], [bob.address, 0]));
    const accessList = [{ address, storageKeys: [slot] }];
    const tx = await alice.sendTransaction({
      type: 1,
      to: address,
      data: token.interface.encodeFunctionData('transfer', [bob.address, 3n]),
      accessList,
    });
    const receipt = await tx.wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.type, 1);
    const got = await provider.getTransaction(tx.hash);
    assert.equal(got.type, 1);
    assert.deepEqual(
      got.accessList.map((e) => ({ address: e.address, storageKeys: [...e.storageKeys] })),
      accessList,
    );
  });

  test('EIP-1559 transaction pays base fee plus tip', async () => {
    const maxPriorityFeePerGas = parseUnits('1', 'gwei');
    const { maxFeePerGas } = await provider.getFeeData();
    const tx = await alice.sendTransaction({
      type: 2,
      to: bob.address,
      value: 1n,
      maxFeePerGas: maxFeePerGas + maxPriorityFeePerGas,
      maxPriorityFeePerGas,
    });
    const receipt = await tx.wait();
    assert.equal(receipt.type, 2);
    const block = await provider.getBlock(receipt.blockNumber);
    const cap = maxFeePerGas + maxPriorityFeePerGas;
    const expected = block.baseFeePerGas + maxPriorityFeePerGas < cap ? block.baseFeePerGas + maxPriorityFeePerGas : cap;
    assert.equal(receipt.gasPrice, expected, 'effectiveGasPrice = min(maxFee, baseFee + tip)');
  });

  test('nonce too low maps to NONCE_EXPIRED', async () => {
    if ((await provider.getTransactionCount(alice.address)) === 0) {
      await (await alice.sendTransaction({ to: bob.address, value: 1n })).wait();
    }
    await assert.rejects(
      alice.sendTransaction({ to: bob.address, value: 1n, nonce: 0, gasLimit: 21000n }),
      (err) => {
        assert.ok(isError(err, 'NONCE_EXPIRED'), `${err.code}: ${err.message}`);
        assert.match(err.info.error.message, /nonce too low/);
        return true;
      },
    );
  });

  test('re-broadcasting an included transaction is nonce too low', async () => {
    // What a wallet sees when it retries a send that already made it into a
    // block: go-ethereum answers "nonce too low", which ethers maps.
    const signed = await alice.signTransaction(await alice.populateTransaction({ to: bob.address, value: 5n }));
    const receipt = await (await provider.broadcastTransaction(signed)).wait();
    assert.equal(receipt.status, 1);
    await assert.rejects(provider.broadcastTransaction(signed), (err) => {
      assert.ok(isError(err, 'NONCE_EXPIRED'), `${err.code}: ${err.message}`);
      return true;
    });
  });

  test('insufficient funds maps to INSUFFICIENT_FUNDS', async () => {
    const balance = await provider.getBalance(bob.address);
    // Explicit gas: the node itself must refuse the raw transaction.
    await assert.rejects(bob.sendTransaction({ to: alice.address, value: balance, gasLimit: 21000n }), (err) => {
      assert.ok(isError(err, 'INSUFFICIENT_FUNDS'), `${err.code}: ${err.message}`);
      assert.match(err.info.error.message, /insufficient funds/);
      return true;
    });
    // Without gas the estimate fails first, with the same code.
    const empty = Wallet.createRandom(provider);
    await assert.rejects(empty.sendTransaction({ to: alice.address, value: 1n }), (err) => {
      assert.ok(isError(err, 'INSUFFICIENT_FUNDS'), `${err.code}: ${err.message}`);
      return true;
    });
    assert.equal(await provider.getTransactionCount(bob.address, 'pending'), await provider.getTransactionCount(bob.address));
  });
});

describe('ethers JsonRpcSigner (the node signs)', () => {
  let signer;
  let address;

  before(async () => {
    address = await nodeSigner();
    signer = await provider.getSigner();
  });

  test('eth_accounts and sendTransaction', async () => {
    assert.equal(signer.address.toLowerCase(), address.toLowerCase());
    const accounts = await provider.listAccounts();
    assert.ok(accounts.some((a) => a.address === signer.address));

    const to = Wallet.createRandom().address;
    const value = parseEther('0.25');
    const tx = await signer.sendTransaction({ to, value });
    const receipt = await tx.wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.from, signer.address);
    assert.equal(await provider.getBalance(to), value);
  });

  test('signMessage (personal_sign) verifies', { skip: skipUnless('personal_sign') }, async () => {
    const message = 'hello from the Coco client tests';
    const signature = await signer.signMessage(message);
    assert.equal(verifyMessage(message, signature), signer.address);
  });

  test('signTypedData (eth_signTypedData_v4) verifies', { skip: skipUnless('eth_signTypedData_v4') }, async () => {
    const domain = { name: 'Coco', version: '1', chainId, verifyingContract: await token.getAddress() };
    const types = {
      Person: [
        { name: 'name', type: 'string' },
        { name: 'wallet', type: 'address' },
      ],
      Mail: [
        { name: 'from', type: 'Person' },
        { name: 'to', type: 'Person' },
        { name: 'contents', type: 'string' },
      ],
    };
    const value = {
      from: { name: 'Alice', wallet: alice.address },
      to: { name: 'Bob', wallet: bob.address },
      contents: 'Hello, Bob!',
    };
    const signature = await signer.signTypedData(domain, types, value);
    assert.equal(verifyTypedData(domain, types, value, signature), signer.address);
  });
});
