<?php
// A Fibonacci worker in the shape of IronWorker's PHP tutorial: getPayload() is provided by
// the runtime and returns the payload as an object, so the limit is $payload->max.
$payload = getPayload();
$max = isset($payload->max) ? $payload->max : 100;
if (!is_numeric($max)) {
    fwrite(STDERR, "max must be a number\n");
    exit(1);
}
$seq = array();
$a = 0;
$b = 1;
while ($b < $max) {
    $seq[] = $b;
    $next = $a + $b;
    $a = $b;
    $b = $next;
}
echo "MAGICALSTDOUTSEPARATOR" . json_encode($seq) . "MAGICALSTDOUTSEPARATOR";
