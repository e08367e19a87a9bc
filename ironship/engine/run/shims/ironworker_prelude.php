<?php
// Prepended to every PHP worker by the ironship engine (php -d auto_prepend_file=...).
// Gives workers the helpers the IronWorker PHP runtime defined, with the same defaults:
// getArgs($assoc = true), getPayload($assoc = false), getConfig($assoc = true).
// Arguments come in pairs in any order (docs/ironworker-api.md §6 (Worker runtime contract));
// the PAYLOAD_FILE, CONFIG_FILE, TASK_ID and TASK_DIR environment variables fill in whatever
// the arguments did not give.

function ironship_read_json_file($file, $assoc)
{
    $text = file_get_contents($file);
    if ($text === false) {
        return null;
    }
    $decoded = json_decode($text, $assoc);
    // Like IronWorker: a payload that is not JSON is handed over as the raw string.
    return $decoded === null ? $text : $decoded;
}

function getArgs($assoc = true)
{
    $argv = isset($_SERVER['argv']) ? $_SERVER['argv'] : array();
    $files = array('payload' => null, 'config' => null);
    $args = array(
        'task_id' => null,
        'dir' => null,
        'schedule_id' => null,
        'payload' => array(),
        'config' => null,
    );
    $count = count($argv);
    for ($i = 0; $i + 1 < $count; $i++) {
        $value = $argv[$i + 1];
        switch ($argv[$i]) {
            case '-id':
                $args['task_id'] = $value;
                break;
            case '-d':
                $args['dir'] = $value;
                break;
            case '-schedule_id':
                $args['schedule_id'] = $value;
                break;
            case '-payload':
                $files['payload'] = $value;
                break;
            case '-config':
                $files['config'] = $value;
                break;
        }
    }
    $env = array('task_id' => 'TASK_ID', 'dir' => 'TASK_DIR');
    foreach ($env as $key => $name) {
        if ($args[$key] === null && getenv($name) !== false) {
            $args[$key] = getenv($name);
        }
    }
    if ($files['payload'] === null && getenv('PAYLOAD_FILE') !== false) {
        $files['payload'] = getenv('PAYLOAD_FILE');
    }
    if ($files['config'] === null && getenv('CONFIG_FILE') !== false) {
        $files['config'] = getenv('CONFIG_FILE');
    }
    foreach ($files as $key => $file) {
        if ($file !== null && $file !== '' && is_file($file)) {
            $args[$key] = ironship_read_json_file($file, $assoc);
        }
    }
    return $args;
}

function getPayload($assoc = false)
{
    $args = getArgs($assoc);
    return $args['payload'];
}

function getConfig($assoc = true)
{
    $args = getArgs($assoc);
    return $args['config'];
}
