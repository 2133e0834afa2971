using System.Runtime;

namespace TrapReplace.Runtime;

/// <summary>
/// Keeps the .NET garbage collector from running during a training or evaluation step.
/// </summary>
/// <remarks>
/// TorchSharp turns every number a tensor method receives into a <c>Scalar</c> object: <c>x.mul(0.5)</c>,
/// <c>square()</c> (which is <c>pow(2)</c>), even <c>add(tensor)</c> (alpha 1), and the betas and learning rate inside
/// its Adam and SGD steps. Nothing references that object once its native handle has been read, so a collection that
/// runs while libtorch is still inside the call lets the finalizer thread free the Scalar under it; libtorch then fails
/// with "Unknown scalar type" or "INTERNAL ASSERT FAILED at c10/core/Scalar.h" (it killed one 180-epoch stage 1 of
/// ours; <c>GcPauseTests</c> reproduces it in seconds with a thread that allocates beside the calls). A collection can
/// only start during a native call when another thread allocates, so a step run inside a no-GC region is closed to
/// it. The region's budget is far above what a step allocates (tensor wrappers: kilobytes); should something exhaust
/// it, the collector runs and the step goes on unguarded. Concurrent steps in one process (two trainings side by
/// side) share one region, counted, and the last one out ends it. Core and Attacks each compile this file and count
/// their own steps; a region the other assembly opened is left to it, so a step nested across them (WaNet poisoning
/// a batch inside a training step) runs in the region already open.
/// </remarks>
internal readonly struct GcPause : IDisposable
{
    /// <summary>Bytes the region lets every thread allocate in all before a collection ends it.</summary>
    internal const long Budget = 16L << 20;

    private static readonly Lock Gate = new();
    private static int holders;
    private static bool regionOurs;

    private readonly bool entered;

    private GcPause(bool entered) => this.entered = entered;

    /// <summary>Enters the pause: opens the no-GC region if no step holds it yet.</summary>
    public static GcPause Begin()
    {
        lock (Gate)
        {
            if (holders++ == 0) regionOurs = TryStartRegion();
            return new GcPause(entered: true);
        }
    }

    /// <summary>Leaves the pause; the last holder ends the region if it is still open.</summary>
    public void Dispose()
    {
        if (!entered) return;
        lock (Gate)
        {
            if (--holders > 0 || !regionOurs) return;
            regionOurs = false;
            if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion) return;   // a collection already ended it
            try
            {
                GC.EndNoGCRegion();
            }
            catch (InvalidOperationException)
            {
                // The budget ran out (or a collection was induced) inside the region: it is already over.
            }
        }
    }

    /// <summary>Whether a step of this process currently holds the pause (for tests).</summary>
    internal static bool Held
    {
        get { lock (Gate) return holders > 0; }
    }

    private static bool TryStartRegion()
    {
        // Someone outside this library holds a region: leave it to them.
        if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) return false;
        try
        {
            // Never a full blocking collection to make room: without room the step runs unguarded.
            return GC.TryStartNoGCRegion(Budget, disallowFullBlockingGC: true);
        }
        catch (InvalidOperationException)
        {
            return false;   // a region started by another thread between the check and the call
        }
        catch (ArgumentOutOfRangeException)
        {
            return false;   // a runtime whose ephemeral space is smaller than the budget
        }
    }
}
