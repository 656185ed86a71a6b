import CLibFuzzer
import Foundation
import FuzzTargets

// libFuzzer runs the show (its flags: -max_total_time=60, a corpus directory, ...); each input goes
// to FuzzTargets.jwt. Built only with LEADERBOARD_FUZZ=1 and -sanitize=fuzzer (make fuzz).
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(
    LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        FuzzTargets.jwt(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    })
