<?php
function format_report($month) {
    return json_encode(array("report" => $month));
}
