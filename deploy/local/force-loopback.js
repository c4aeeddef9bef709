// Preload that forces every TCP net.Server.listen() (and so http, https, tls
// and http2 servers) onto 127.0.0.1, whatever host the program asked for.
// Used for kinesis-local, which binds 0.0.0.0 and has no host setting:
//
//   node -r ./force-loopback.js node_modules/kinesis-local/main.js
//
// Unix-socket / named-pipe paths and inherited handles are left alone.
'use strict'

const net = require('net')

const HOST = '127.0.0.1'
const originalListen = net.Server.prototype.listen

// A string first argument that is not a number is a socket path (Node's rule).
function isPipeName (s) {
  return typeof s === 'string' && !/^\s*\d+\s*$/.test(s)
}

function forceLoopback (args) {
  const a = Array.prototype.slice.call(args)
  const first = a[0]

  // listen() / listen(cb): Node picks a free port on every interface.
  if (a.length === 0 || typeof first === 'function') {
    a.unshift(0, HOST)
    return a
  }

  // listen(options[, cb])
  if (first !== null && typeof first === 'object') {
    const isHandle = first._handle || first.handle || typeof first.fd === 'number' ||
      (typeof first.path === 'string' && first.path !== '')
    if (!isHandle) a[0] = Object.assign({}, first, { host: HOST })
    return a
  }

  // listen(path[, backlog][, cb]): a Unix socket, not TCP.
  if (isPipeName(first)) return a

  // listen(port, host[, backlog][, cb])
  if (typeof a[1] === 'string') {
    a[1] = HOST
    return a
  }

  // listen(port), listen(port, cb), listen(port, backlog[, cb]),
  // listen(port, undefined|null, ...)
  if (a.length > 1 && (a[1] === undefined || a[1] === null)) a[1] = HOST
  else a.splice(1, 0, HOST)
  return a
}

net.Server.prototype.listen = function listen () {
  return originalListen.apply(this, forceLoopback(arguments))
}

module.exports = { forceLoopback }
