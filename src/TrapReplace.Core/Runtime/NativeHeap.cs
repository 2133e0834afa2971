using System.Runtime.InteropServices;

namespace TrapReplace.Runtime;

/// <summary>What <see cref="NativeHeap.RetainFreedMemory"/> did to the process's C allocator.</summary>
/// <param name="Applied">Whether the allocator now keeps freed blocks for reuse.</param>
/// <param name="MmapThresholdBytes">Blocks at least this large still come from (and go back to) the kernel; 0 when not applied.</param>
/// <param name="Detail">Why it was or was not applied, in words.</param>
public sealed record NativeHeapTuning(bool Applied, long MmapThresholdBytes, string Detail);

/// <summary>
/// Keeps the C allocator from handing libtorch's freed tensor memory back to the kernel.
/// </summary>
/// <remarks>
/// libtorch's CPU allocator is <c>malloc</c>. A training step frees and re-allocates the same activation and
/// gradient buffers (megabytes each) every step. With glibc's defaults, blocks above the mmap threshold and any
/// free heap top above the trim threshold go back to the kernel on <c>free</c>, so every step page-faults fresh
/// zeroed pages: on the 2-core development machine a WRN-16-1 step spent about a third of its CPU time in the
/// kernel for that. Raising both thresholds makes the freed blocks reusable (see docs/performance.md for the
/// measured speed-up); the cost is that the process keeps its peak native memory until it exits.
/// Only glibc (Linux) is tuned; elsewhere this reports that nothing was done.
/// </remarks>
public static class NativeHeap
{
    // mallopt parameter numbers from glibc's malloc.h.
    private const int TrimThreshold = -1;
    private const int MmapThreshold = -3;

    // Tried from the largest down: glibc refuses thresholds above half its per-arena heap size (32 MiB by default
    // on 64-bit), except where tunables raised it.
    private static readonly int[] MmapThresholdCandidates = [1 << 30, 1 << 25];

    private static readonly Lazy<NativeHeapTuning> Tuning = new(Apply, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Applies the allocator settings once per process (later calls return the first call's result).
    /// </summary>
    public static NativeHeapTuning RetainFreedMemory() => Tuning.Value;

    private static NativeHeapTuning Apply()
    {
        if (!OperatingSystem.IsLinux())
            return new NativeHeapTuning(false, 0, "not Linux: the platform allocator is left as it is");
        string glibc;
        try
        {
            // Only glibc exports it; musl and other C libraries fail here.
            glibc = Marshal.PtrToStringUTF8(gnu_get_libc_version()) ?? "?";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return new NativeHeapTuning(false, 0, "the C library is not glibc: its allocator is left as it is");
        }
        int accepted = 0;
        foreach (var candidate in MmapThresholdCandidates)
        {
            if (mallopt(MmapThreshold, candidate) != 1) continue;
            accepted = candidate;
            break;
        }
        if (accepted == 0)
            return new NativeHeapTuning(false, 0, "glibc refused every mmap threshold tried; its allocator is left as it is");
        // The trim threshold is an int here; int.MaxValue (2 GiB) keeps any realistic free heap top.
        if (mallopt(TrimThreshold, int.MaxValue) != 1)
            return new NativeHeapTuning(false, accepted, "glibc accepted the mmap threshold but refused the trim threshold");
        return new NativeHeapTuning(true, accepted, $"glibc {glibc}: mmap threshold {accepted >> 20} MiB, trim threshold 2 GiB");
    }

#pragma warning disable SYSLIB1054 // DllImport keeps the project free of AllowUnsafeBlocks; both calls take and return plain values.
    [DllImport("libc", CallingConvention = CallingConvention.Cdecl)]
    private static extern int mallopt(int parameter, int value);

    [DllImport("libc", CallingConvention = CallingConvention.Cdecl)]
    private static extern IntPtr gnu_get_libc_version();
#pragma warning restore SYSLIB1054
}
