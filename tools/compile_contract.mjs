#!/usr/bin/env node
// Compiles ledger/anchor/contracts/CheckpointAnchor.sol with the pinned solc-js and writes
// the artifact (abi, bytecode, compiler version and settings) the Python anchor loads.
//
//   node tools/compile_contract.mjs              rewrite the committed CheckpointAnchor.json
//   node tools/compile_contract.mjs --out FILE   write the artifact elsewhere (tests compare it)
//   node tools/compile_contract.mjs --check      exit 1 if the committed artifact is stale
//
// solc comes from ledger/anchor/contracts/node_modules: run ledger/anchor/contracts/install.sh.

import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const CONTRACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'ledger', 'anchor', 'contracts')
const NAME = 'CheckpointAnchor'
const SOURCE_NAME = `${NAME}.sol`
const ARTIFACT = join(CONTRACTS, `${NAME}.json`)

// Pinned so the bytecode is reproducible: the EVM version is fixed rather than left to the
// compiler's default (which moves with each solc release) and cancun runs on py-evm and anvil.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { [SOURCE_NAME]: { [NAME]: ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
}

function loadSolc () {
  const require = createRequire(join(CONTRACTS, 'package.json'))
  try {
    return require('solc')
  } catch {
    console.error(`solc is not installed under ${CONTRACTS}/node_modules: run ledger/anchor/contracts/install.sh`)
    process.exit(2)
  }
}

function compile (solc) {
  const source = readFileSync(join(CONTRACTS, SOURCE_NAME), 'utf8')
  const input = { language: 'Solidity', sources: { [SOURCE_NAME]: { content: source } }, settings: SETTINGS }
  const output = JSON.parse(solc.compile(JSON.stringify(input)))
  const problems = output.errors ?? []
  for (const p of problems) console.error(p.formattedMessage ?? p.message)
  if (problems.some((p) => p.severity === 'error')) process.exit(1)
  const contract = output.contracts[SOURCE_NAME][NAME]
  const { outputSelection, ...settings } = SETTINGS
  return {
    contractName: NAME,
    sourceName: SOURCE_NAME,
    // Lets a test without node notice a source edit that was not recompiled.
    sourceSha256: createHash('sha256').update(source, 'utf8').digest('hex'),
    compiler: { name: 'solc-js', version: solc.version() },
    settings,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
  }
}

function main (argv) {
  const text = `${JSON.stringify(compile(loadSolc()), null, 2)}\n`
  if (argv[0] === '--check') {
    if (readFileSync(ARTIFACT, 'utf8') !== text) {
      console.error(`${ARTIFACT} is stale: run node tools/compile_contract.mjs`)
      process.exit(1)
    }
    return
  }
  const out = argv[0] === '--out' ? argv[1] : ARTIFACT
  if (!out) {
    console.error('usage: compile_contract.mjs [--out FILE | --check]')
    process.exit(2)
  }
  writeFileSync(out, text)
}

main(process.argv.slice(2))
