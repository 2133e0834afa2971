using TrapReplace.Runtime;

namespace TrapReplace.Core.Tests.Infrastructure;

/// <summary>
/// A fact that trains under bf16 autocast: skipped, with the reason, on a CPU without native bf16, where libtorch runs
/// emulated kernels (on a Zen 1 the six such tests took 356 s, half of this assembly's time) and where the runner's
/// <c>auto</c> precision never picks bf16. The cheap bf16 numerics tests (which ops run in bf16, decoder gradients)
/// stay plain facts and run everywhere.
/// </summary>
public sealed class NativeBf16FactAttribute : FactAttribute
{
    public NativeBf16FactAttribute()
    {
        if (MixedPrecision.NativeBFloat16Flag is null)
            Skip = $"trains under bf16 autocast, emulated and about ten times slower on this CPU without native bf16 ({CpuIdentity.Current?.Name ?? "CPU not identified"}); runs where the CPU has avx512_bf16 or amx_bf16";
    }
}
