using TrapReplace.Runtime;
using TrapReplace.Training;

namespace TrapReplace.Cli.Tests;

/// <summary>What <c>--precision</c> resolves to, on CPUs with and without native bf16 and on CUDA.</summary>
public sealed class PrecisionOptionTests
{
    [Theory]
    [InlineData("auto", "cpu", "avx512_bf16", Precision.BFloat16)]
    [InlineData("auto", "cpu", "amx_bf16", Precision.BFloat16)]
    [InlineData("auto", "cpu", null, Precision.Float32)]
    [InlineData("auto", "cuda", "avx512_bf16", Precision.Float32)]
    [InlineData("fp32", "cpu", "avx512_bf16", Precision.Float32)]
    [InlineData("bf16", "cpu", null, Precision.BFloat16)]
    public void Auto_picks_bf16_only_for_a_cpu_run_on_a_cpu_that_has_it(string value, string device, string? nativeFlag, Precision expected) =>
        CommandLine.ResolvePrecision(value, ComputeDevice.Parse(device), nativeFlag).Should().Be(expected);
}
