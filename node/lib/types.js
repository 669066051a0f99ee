'use strict';
// `oxray/types` holds types only (lib/types.d.ts); this module is empty.
module.exports = {};
