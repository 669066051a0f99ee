'use strict';
/**
 * Adds the `X-Amzn-Trace-Id` answer to a response whose headers are not sent yet.
 *
 * `res.setHeader` validates the name and the value with two regular expressions and makes a
 * lower-case copy of the name on every call: about 2,000 instructions per request, a tenth of
 * what tracing a request adds. The answer is ASCII the addon wrote (`Root=…[;Sampled=…]`) under
 * a constant valid name, so none of that can fail; where `setHeader` is Node's own, the header
 * is stored as it would store it (`[name, value]` under the lower-case name, in the response's
 * header table) and read back by `getHeader`, `hasHeader` and the header writer as usual.
 * Anywhere else (a framework or a subclass replaced `setHeader`, a response without Node's
 * table, a Node version that names it otherwise) `res.setHeader` is called.
 */

const { OutgoingMessage } = require('node:http');

const NAME = 'X-Amzn-Trace-Id';
const KEY = 'x-amzn-trace-id';
const nodeSetHeader = OutgoingMessage.prototype.setHeader;

/** Node's header table property (the symbol `kOutHeaders`): undefined until looked for, null if absent. */
/** @type {symbol | null | undefined} */ let table;

/**
 * Finds the table's symbol among a response's own properties (once per process).
 * @param {object} res
 */
function findTable(res) {
  for (const symbol of Object.getOwnPropertySymbols(res)) {
    if (symbol.description === 'kOutHeaders') return symbol;
  }
  return null;
}

/**
 * @param {import('node:http').ServerResponse} res
 * @param {string} answer
 * @param {import('./access').Access} read how `res` is read (see access.js)
 */
function setTraceHeader(res, answer, read) {
  if (read.setHeader(res) === nodeSetHeader) {
    if (table === undefined) table = findTable(res);
    if (table !== null) {
      const r = /** @type {any} */ (res);
      const headers = read.symbol(r, table);
      if (headers === null) {
        // As setHeader makes it: an object without prototype.
        const fresh = { __proto__: null };
        fresh[KEY] = [NAME, answer];
        r[table] = fresh;
        return;
      }
      // Only the table as Node 20–24 make it (a prototype-less object): anything else, say a
      // Map in a later version, gets the header through setHeader.
      if (typeof headers === 'object' && Object.getPrototypeOf(headers) === null) {
        headers[KEY] = [NAME, answer];
        return;
      }
    }
  }
  res.setHeader(NAME, answer);
}

module.exports = { setTraceHeader };
