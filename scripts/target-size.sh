#!/usr/bin/env bash
# Flash and RAM per engine on a Cortex-M (make size): links tests/target/size/engines.cpp once
# per engine (and all four together) with examples/firmware's startup and linker script, and
# prints each image's growth over a baseline image without any engine:
#   text = code + constant data in flash, data = initialized RAM (also stored in flash),
#   bss = zeroed RAM, sizeof = the engine object itself (RAM).
# usage: scripts/target-size.sh CPU BUILD_DIR [INCLUDE_DIR]   (CXXFLAGS from the environment)
set -euo pipefail
cpu=$1 out=$2 inc=${3:-include}
mkdir -p "$out"
cxx="arm-none-eabi-g++ -mcpu=$cpu $ARM_CXXFLAGS -I$inc -Iplatform -Itests/target/size"
arm-none-eabi-gcc -mcpu="$cpu" $ARM_CFLAGS -c examples/firmware/startup.c -o "$out/startup.o"
$cxx -c tests/target/size/user.cpp -o "$out/user.o"

# .text / .data / .bss of an image (the linker script keeps .rodata inside .text)
sections() { arm-none-eabi-size -A "$1" | awk '$1==".text"{t=$2} $1==".data"{d=$2} $1==".bss"{b=$2} END{print t+0, d+0, b+0}'; }

image() {  # name, -D flag
  $cxx $2 -c tests/target/size/engines.cpp -o "$out/$1.o"
  arm-none-eabi-g++ -mcpu="$cpu" -mthumb $ARM_LDFLAGS "$out/$1.o" "$out/user.o" "$out/startup.o" $ARM_LIBS -o "$out/$1.elf"
}

image baseline ""
read -r bt bd bb < <(sections "$out/baseline.elf")
printf '%-44s %7s %7s %7s %8s\n' "engine ($cpu, -Os)" text data bss sizeof
total=0
for row in "commit_tracker<8, 64, preferred_sync<uint32_t>>:COMMIT_TRACKER:size_commit_tracker" \
           "sequence_table<16>:SEQUENCE_TABLE:size_sequence_table" \
           "txn_coordinator<4, 4, 2, 16>:TXN_COORDINATOR:size_txn_coordinator" \
           "journal<flash, 256, 8>:JOURNAL:size_journal" \
           "all four in one image:ALL:"; do
  IFS=: read -r label flag sym <<<"$row"
  image "$flag" "-DSIZE_$flag"
  read -r t d b < <(sections "$out/$flag.elf")
  size=""
  if [ -n "$sym" ]; then
    hex=$(arm-none-eabi-nm -S -C "$out/$flag.elf" | awk -v s="(anonymous namespace)::$sym" \
      '{n=$0; sub(/^[0-9a-f]+ [0-9a-f]+ . /, "", n)} n==s {print $2}')
    [ -n "$hex" ] && size=$((16#$hex))
  fi
  printf '%-44s %7d %7d %7d %8s\n' "$label" $((t - bt)) $((d - bd)) $((b - bb)) "$size"
  [ "$flag" = ALL ] && total=$((t - bt))
done
echo "baseline (startup + application stubs, no engine): text $bt, data $bd, bss $bb; memcpy/memset count in the rows that call them"
echo "engine text bytes ($cpu, -Os): $total"
