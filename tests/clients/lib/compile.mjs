// Compiles the test contracts with the solc-js compiler bundled in the solc
// npm package, so the suite needs no network and commits no bytecode.
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nodeModules = join(root, 'node_modules');

// Resolves `import "@openzeppelin/..."` from this package's node_modules;
// anything else is refused so a typo fails loudly instead of compiling
// something unexpected.
function findImports(path) {
  if (!path.startsWith('@openzeppelin/')) {
    return { error: `import ${path}: only @openzeppelin/ imports are resolved` };
  }
  const file = normalize(join(nodeModules, path));
  if (!file.startsWith(nodeModules + sep)) {
    return { error: `import ${path}: escapes node_modules` };
  }
  try {
    return { contents: readFileSync(file, 'utf8') };
  } catch (err) {
    return { error: `import ${path}: ${err.message}` };
  }
}

let cache;

/**
 * Compiles contracts/*.sol with solc defaults (evmVersion left to the
 * compiler, i.e. osaka for 0.8.37) and the optimizer on.
 * @returns {{CocoToken: {abi: any[], bytecode: `0x${string}`}, Vault: {abi: any[], bytecode: `0x${string}`}}}
 */
export function compileContracts() {
  if (cache) return cache;
  const names = ['CocoToken', 'Vault'];
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(
      names.map((n) => [`${n}.sol`, { content: readFileSync(join(root, 'contracts', `${n}.sol`), 'utf8') }]),
    ),
    settings: {
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    throw new Error(`solc ${solc.version()}: ${errors.map((e) => e.formattedMessage).join('\n')}`);
  }
  cache = {};
  for (const n of names) {
    const c = output.contracts[`${n}.sol`][n];
    cache[n] = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
  }
  return cache;
}

export const solcVersion = () => solc.version();
