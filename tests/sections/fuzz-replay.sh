# fuzz-replay: the committed fuzzing corpus and past crashers (tests/fuzz)
# through the sanitized libFuzzer harnesses (make fuzz-replay).

check_shown "make fuzz-replay: the compile, load and data harnesses over tests/fuzz/corpus and crashers" \
    make --no-print-directory -s BUILD=$BUILD fuzz-replay
