<?php
// The seed tutorial's PHP Fibonacci worker, unchanged: getPayload() comes from the runtime.
$payload = getPayload(true);
$max = $payload['max'];
if (!is_numeric($max)) {
    fwrite(STDERR, "max must be a number\n");
    exit(1);
}
$seq = array();
$a = 0;
$b = 1;
while ($a <= $max) {
    $seq[] = $a;
    $next = $a + $b;
    $a = $b;
    $b = $next;
}
echo "MAGICALSTDOUTSEPARATOR" . json_encode($seq) . "MAGICALSTDOUTSEPARATOR";
