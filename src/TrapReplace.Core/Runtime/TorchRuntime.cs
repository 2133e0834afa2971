using static TorchSharp.torch;

namespace TrapReplace.Runtime;

/// <summary>
/// Process-wide native settings that every training, defense and evaluation entry point applies before its first step.
/// </summary>
public static class TorchRuntime
{
    /// <summary>
    /// Whether entry points call <see cref="NativeHeap.RetainFreedMemory"/>. Opt-in (default <c>false</c>), because it
    /// changes the whole host process's C allocator: a library must not do that behind its caller's back. On Linux
    /// CPU training it is the single largest speed-up (about 2-2.5x, docs/performance.md), so a process that mainly
    /// trains should set it to <c>true</c> before its first training call; the runner and the benchmarks do.
    /// </summary>
    public static bool RetainNativeMemory { get; set; }

    /// <summary>Pins libtorch's intra-op thread count when <paramref name="threads"/> is positive, and tunes the native heap.</summary>
    public static void Prepare(int threads)
    {
        if (threads > 0 && get_num_threads() != threads) set_num_threads(threads);
        if (RetainNativeMemory) NativeHeap.RetainFreedMemory();
    }
}
