// require('node_helper') for workers on the ironship engine, as IronWorker's Node runtime
// provided it: params (the payload, parsed when it is JSON, else the string), config (the
// same for the code's config, null without one) and task_id. The engine puts this folder on
// NODE_PATH, so a node_helper.js the package ships in its own node_modules/ wins.
// Arguments come in pairs in any order (docs/ironworker-api.md §6 (Worker runtime contract));
// PAYLOAD_FILE, CONFIG_FILE and TASK_ID fill in whatever the arguments did not give.
'use strict';

var fs = require('fs');

function argument(name) {
  var argv = process.argv;
  for (var i = 2; i + 1 < argv.length; i++) {
    if (argv[i] === name) {
      return argv[i + 1];
    }
  }
  return null;
}

function readValue(file) {
  if (!file) {
    return null;
  }
  var text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    return text;
  }
}

var payloadFile = argument('-payload') || process.env.PAYLOAD_FILE || null;
var configFile = argument('-config') || process.env.CONFIG_FILE || null;

exports.params = readValue(payloadFile);
exports.config = readValue(configFile);
exports.task_id = argument('-id') || process.env.TASK_ID || null;
exports.schedule_id = argument('-schedule_id');
exports.task_dir = argument('-d') || process.env.TASK_DIR || null;
