using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Tests;

/// <summary>Small deterministic images and labels for the tests.</summary>
internal static class TestData
{
    /// <summary>A constant batch (n, 3, h, w) with value <paramref name="value"/>.</summary>
    public static Tensor Constant(long n, long h, long w, float value = 0f) => full(new[] { n, 3L, h, w }, value, ScalarType.Float32);

    /// <summary>Random uint8-grid images k/255 from a seeded generator.</summary>
    public static Tensor RandomUint8Images(long n, long h = 32, long w = 32, int seed = 1)
    {
        using var generator = new Generator((ulong)seed);
        using var values = randint(0, 256, new[] { n, 3L, h, w }, dtype: ScalarType.Float32, generator: generator);
        return values.div(255f);
    }

    /// <summary>Labels 0, 1, …, classes − 1, 0, 1, … of length n.</summary>
    public static Tensor CyclicLabels(int n, int classes) =>
        tensor(Enumerable.Range(0, n).Select(i => (long)(i % classes)).ToArray());

    /// <summary>Copies a tensor to a managed float array (row-major).</summary>
    public static float[] ToFloats(Tensor t)
    {
        using var cpu = t.to_type(ScalarType.Float32).cpu().contiguous();
        return cpu.data<float>().ToArray();
    }

    /// <summary>Copies an int64 tensor to a managed array.</summary>
    public static long[] ToLongs(Tensor t)
    {
        using var cpu = t.cpu().contiguous();
        return cpu.data<long>().ToArray();
    }

    /// <summary>Value of pixel (n, c, r, col) of a tensor as a float.</summary>
    public static float At(Tensor t, long n, long c, long r, long col) => t[n, c, r, col].ToSingle();
}
