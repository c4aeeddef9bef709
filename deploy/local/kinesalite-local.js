#!/usr/bin/env node
// Loopback-only launcher for kinesalite.
//
// kinesalite's own CLI calls listen(port) without a host and so binds every
// interface; this launcher binds 127.0.0.1 only and uses defaults suited to
// tests (a high shard limit, streams ACTIVE at once).
//
//   node kinesalite-local.js --port 4567 [--path DIR] [--shardLimit 1000]
//        [--createStreamMs 0] [--deleteStreamMs 0] [--updateStreamMs 0]
//
// Normally started through scripts/emulators.sh.
'use strict'

const fs = require('fs')
const path = require('path')
const { createRequire } = require('module')

// minimist is one of kinesalite's own dependencies; resolve it from there.
const kinesaliteMain = require.resolve('kinesalite')
const minimist = createRequire(kinesaliteMain)('minimist')

const HOST = '127.0.0.1'
const NUMERIC = ['port', 'shardLimit', 'createStreamMs', 'deleteStreamMs', 'updateStreamMs']
const DEFAULTS = { port: 4567, shardLimit: 1000, createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0 }
const USAGE = [
  'Usage: node kinesalite-local.js [--port N] [--path DIR] [--shardLimit N]',
  '       [--createStreamMs MS] [--deleteStreamMs MS] [--updateStreamMs MS]',
  '',
  'Runs kinesalite on 127.0.0.1 only.',
  '  --port N             TCP port (default 4567; 0 picks a free one)',
  '  --path DIR           LevelDB directory (default: in memory)',
  '  --shardLimit N       account shard limit (default 1000; kinesalite: 10)',
  '  --createStreamMs MS  time a stream stays CREATING (default 0)',
  '  --deleteStreamMs MS  time a stream stays DELETING (default 0)',
  '  --updateStreamMs MS  time a stream stays UPDATING (default 0)',
].join('\n')

function fail (msg) {
  console.error('kinesalite-local: ' + msg)
  console.error(USAGE)
  process.exit(2)
}

const argv = minimist(process.argv.slice(2), {
  string: NUMERIC.concat(['path']),
  boolean: ['help'],
  unknown: (arg) => fail('unknown argument ' + JSON.stringify(arg)),
})
if (argv.help) {
  console.log(USAGE)
  process.exit(0)
}

const options = {}
for (const name of NUMERIC) {
  const raw = argv[name]
  if (raw === undefined) {
    options[name] = DEFAULTS[name]
    continue
  }
  if (Array.isArray(raw) || !/^\d+$/.test(raw)) fail('--' + name + ' needs one non-negative integer, got ' + JSON.stringify(raw))
  options[name] = Number(raw)
}
if (options.port > 65535) fail('--port out of range: ' + options.port)
if (argv.path !== undefined) {
  if (Array.isArray(argv.path) || argv.path === '') fail('--path needs one directory')
  options.path = path.resolve(argv.path)
  fs.mkdirSync(options.path, { recursive: true })
}

const server = require(kinesaliteMain)({
  path: options.path,
  shardLimit: options.shardLimit,
  createStreamMs: options.createStreamMs,
  deleteStreamMs: options.deleteStreamMs,
  updateStreamMs: options.updateStreamMs,
})

server.on('error', (err) => {
  console.error('kinesalite-local: cannot listen on ' + HOST + ':' + options.port + ': ' + (err.code || err.message))
  process.exit(1)
})

server.listen(options.port, HOST, () => {
  const addr = server.address()
  console.log('kinesalite listening on ' + addr.address + ':' + addr.port +
    (options.path ? ' (LevelDB at ' + options.path + ')' : ' (in memory)'))
})

let stopping = false
function stop (signal) {
  if (stopping) process.exit(0) // second signal: do not wait any longer
  stopping = true
  console.log('kinesalite-local: ' + signal + ', shutting down')
  // A large in-memory store can take 1-2 s to close; never wait longer.
  setTimeout(() => process.exit(0), 2000).unref()
  if (typeof server.closeIdleConnections === 'function') server.closeIdleConnections()
  server.close((err) => {
    if (err) console.error('kinesalite-local: close: ' + err.message)
    process.exit(0)
  })
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
