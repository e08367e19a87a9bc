#!/bin/sh
printf 'MAGICALSTDOUTSEPARATOR{"kept": "%s"}MAGICALSTDOUTSEPARATOR\n' "$(cat data/keep.txt 2>/dev/null || echo missing)"
