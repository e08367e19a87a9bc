<?php
require 'lib/format.php';
$payload = getPayload();
$month = isset($payload->month) ? $payload->month : "none";
echo "MAGICALSTDOUTSEPARATOR" . format_report($month) . "MAGICALSTDOUTSEPARATOR";
