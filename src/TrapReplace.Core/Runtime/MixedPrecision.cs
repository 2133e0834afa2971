using System.Reflection;
using System.Runtime.InteropServices;

namespace TrapReplace.Runtime;

/// <summary>The arithmetic a training loop runs its forward pass in.</summary>
public enum Precision
{
    /// <summary>Everything in float32.</summary>
    Float32,

    /// <summary>Mixed: convolutions, transposed convolutions and linear layers in bfloat16 under libtorch's CPU autocast;
    /// weights, gradients, optimizer state, BatchNorm statistics and losses in float32 (<see cref="MixedPrecision"/>).</summary>
    BFloat16,
}

/// <summary>
/// libtorch's own CPU autocast, switched on for the calling thread: inside a scope, convolutions, transposed
/// convolutions and linear layers run in bfloat16 while the weights, their gradients and the optimizer state stay
/// float32 (autocast casts on the fly and autograd casts the gradients back). TorchSharp 0.107 has no autocast API,
/// so the state is set through libtorch's exported C++ functions (<c>at::autocast::set_autocast_enabled</c> and
/// friends), exactly what <c>torch.autocast("cpu", torch.bfloat16)</c> calls in PyTorch.
/// </summary>
public static class MixedPrecision
{
    // c10::DeviceType::CPU and c10::ScalarType::BFloat16 (both int8 enums in c10).
    private const sbyte CpuDevice = 0;
    private const sbyte BFloat16 = 15;
    private const string Library = "libtorch_cpu";

    static MixedPrecision() => NativeLibrary.SetDllImportResolver(typeof(MixedPrecision).Assembly, Resolve);

    private static readonly Lazy<string?> NativeFlag = new(DetectNativeBFloat16);

    /// <summary>The CPU flag that gives native bfloat16 arithmetic (amx_bf16 or avx512_bf16), or null when the CPU has
    /// neither (bfloat16 would then be emulated and slower than float32). Read from /proc/cpuinfo on Linux.</summary>
    public static string? NativeBFloat16Flag => NativeFlag.Value;

    /// <summary>bfloat16 where this CPU has native bfloat16 arithmetic (<see cref="NativeBFloat16Flag"/>), float32 otherwise:
    /// the runner's default (<c>--precision auto</c>), chosen because bf16 kept Trap and Replace's clean accuracy within
    /// 0.5 points of float32 (docs/results.md) at 1.6-1.7x the training speed. For CPU training; CUDA runs float32.</summary>
    public static Precision Recommended => NativeBFloat16Flag is null ? Precision.Float32 : Precision.BFloat16;

    /// <summary>Opens a bfloat16 scope when <paramref name="precision"/> asks for one; null (nothing to dispose) for float32.</summary>
    public static IDisposable? ScopeFor(Precision precision) => precision == Precision.BFloat16 ? BFloat16Scope() : null;

    /// <summary>Runs <paramref name="forward"/> in <paramref name="precision"/> and returns its output as float32 (for the loss).</summary>
    public static TorchSharp.torch.Tensor Float32Output(Precision precision, Func<TorchSharp.torch.Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        if (precision == Precision.Float32) return forward();
        using (BFloat16Scope()) return forward().to(TorchSharp.torch.ScalarType.Float32);
    }

    /// <summary>True when libtorch's CPU autocast is on for this thread.</summary>
    public static bool IsEnabled => is_autocast_enabled(CpuDevice);

    /// <summary>Turns bfloat16 autocast on for this thread until the returned scope is disposed (scopes nest).</summary>
    public static IDisposable BFloat16Scope()
    {
        bool previous = is_autocast_enabled(CpuDevice);
        sbyte previousType = get_autocast_dtype(CpuDevice);
        set_autocast_dtype(CpuDevice, BFloat16);
        set_autocast_enabled(CpuDevice, true);
        increment_nesting();
        return new Scope(previous, previousType);
    }

    private sealed class Scope(bool previous, sbyte previousType) : IDisposable
    {
        private bool disposed;

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            // Autocast caches the bf16 copies of the weights for the scope; drop them when the outermost scope ends.
            if (decrement_nesting() == 0) clear_cache();
            set_autocast_enabled(CpuDevice, previous);
            set_autocast_dtype(CpuDevice, previousType);
        }
    }

    private static string? DetectNativeBFloat16() =>
        CpuIdentity.Current?.Flags is { } flags ? flags.Contains("amx_bf16") ? "amx_bf16" : flags.Contains("avx512_bf16") ? "avx512_bf16" : null : null;

    // libtorch is loaded by TorchSharp's backend package; find the same file.
    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Library) return IntPtr.Zero;
        if (NativeLibrary.TryLoad("libtorch_cpu.so", assembly, path, out var handle)) return handle;
        foreach (var directory in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location) ?? "" })
        {
            foreach (var candidate in new[] { Path.Combine(directory, "libtorch_cpu.so"), Path.Combine(directory, "runtimes", "linux-x64", "native", "libtorch_cpu.so") })
                if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out handle)) return handle;
        }
        return IntPtr.Zero;
    }

    [DllImport(Library, EntryPoint = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb")]
    private static extern void set_autocast_enabled(sbyte device, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport(Library, EntryPoint = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool is_autocast_enabled(sbyte device);

    [DllImport(Library, EntryPoint = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE")]
    private static extern void set_autocast_dtype(sbyte device, sbyte type);

    [DllImport(Library, EntryPoint = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE")]
    private static extern sbyte get_autocast_dtype(sbyte device);

    [DllImport(Library, EntryPoint = "_ZN2at8autocast17increment_nestingEv")]
    private static extern int increment_nesting();

    [DllImport(Library, EntryPoint = "_ZN2at8autocast17decrement_nestingEv")]
    private static extern int decrement_nesting();

    [DllImport(Library, EntryPoint = "_ZN2at8autocast11clear_cacheEv")]
    private static extern void clear_cache();
}
