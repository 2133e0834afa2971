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

    private static readonly Lock GeneratorGate = new();

    /// <summary>
    /// The one place this library seeds TorchSharp's process-wide default generator, which TorchSharp's weight
    /// initialisers and dropout draw from (they take no generator of their own). <paramref name="draw"/> runs with the
    /// generator seeded to <paramref name="seed"/>, under a process-wide lock, so two trainings in one process (test
    /// classes run in parallel, a host fitting two defenses at once) never interleave their draws: each network's
    /// initial weights and each step's dropout masks depend on their own seed only. Code outside the library that
    /// draws from the default generator while a training runs should go through here too.
    /// </summary>
    /// <param name="seed">The seed for this draw.</param>
    /// <param name="draw">What draws: building modules, or a training step's forward pass.</param>
    public static T Seeded<T>(long seed, Func<T> draw)
    {
        ArgumentNullException.ThrowIfNull(draw);
        lock (GeneratorGate)
        {
            manual_seed(seed);
            return draw();
        }
    }
}
