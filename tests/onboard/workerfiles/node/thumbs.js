var worker = require('node_helper');
var pkg = require('./package.json');
var size = (worker.params && worker.params.size) || 64;
console.log('MAGICALSTDOUTSEPARATOR' + JSON.stringify({package: pkg.name, size: size}) + 'MAGICALSTDOUTSEPARATOR');
