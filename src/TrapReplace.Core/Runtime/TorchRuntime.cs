using static TorchSharp.torch;

namespace TrapReplace.Runtime;

/// <summary>
/// Process-wide native settings that every training, defense and evaluation entry point applies before its first step.
/// </summary>
public static class TorchRuntime
{
    /// <summary>
    /// Whether entry points call <see cref="NativeHeap.RetainFreedMemory"/> (default <c>true</c>: on Linux CPU
    /// training it is the single largest speed-up, see docs/performance.md). Set to <c>false</c> before the first
    /// training call to leave the C allocator's defaults, e.g. in a long-lived server that must give memory back.
    /// </summary>
    public static bool RetainNativeMemory { get; set; } = true;

    /// <summary>Pins libtorch's intra-op thread count when <paramref name="threads"/> is positive, and tunes the native heap.</summary>
    public static void Prepare(int threads)
    {
        if (threads > 0 && get_num_threads() != threads) set_num_threads(threads);
        if (RetainNativeMemory) NativeHeap.RetainFreedMemory();
    }
}
