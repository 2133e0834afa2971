using TrapReplace.Runtime;

namespace TrapReplace.Core.Tests.Runtime;

[Collection(nameof(CpuIdentityTests))] // no training and no thread count: runs beside the torch collection
public sealed class CpuIdentityTests
{
    // Two processors' blocks, shortened from a real /proc/cpuinfo; only the first counts.
    private const string Zen5 = """
        processor	: 0
        vendor_id	: AuthenticAMD
        cpu family	: 26
        model		: 2
        model name	: AMD EPYC
        flags		: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni

        processor	: 1
        vendor_id	: GenuineIntel
        cpu family	: 6
        model name	: Intel Xeon
        flags		: fpu amx_bf16
        """;

    [Fact]
    public void The_first_processor_is_read_with_its_family_model_and_flags()
    {
        var cpu = CpuIdentity.Parse(Zen5)!;

        cpu.Name.Should().Be("AMD EPYC");
        cpu.Family.Should().Be(26);
        cpu.Model.Should().Be(2);
        cpu.Flags.Should().Contain("avx512_bf16").And.NotContain("amx_bf16");
        cpu.Describe().Should().Be("AMD EPYC (family 26, model 2; avx2 avx512f avx512_bf16)");
    }

    [Fact]
    public void Missing_numbers_and_flags_leave_just_the_name_and_text_without_a_cpu_gives_null()
    {
        CpuIdentity.Parse("model name\t: Some CPU\n")!.Describe().Should().Be("Some CPU");
        CpuIdentity.Parse("processor\t: 0\nBogoMIPS\t: 50.00\n").Should().BeNull();
        CpuIdentity.Parse("").Should().BeNull();
    }

    [Fact]
    public void This_machine_is_described_on_linux()
    {
        if (!OperatingSystem.IsLinux()) return; // /proc/cpuinfo is Linux's
        CpuIdentity.Current.Should().NotBeNull();
        CpuIdentity.Current!.Describe().Should().StartWith(CpuIdentity.Current.Name);
        MixedPrecision.NativeBFloat16Flag.Should().Be(CpuIdentity.Current.Flags.Contains("amx_bf16") ? "amx_bf16"
            : CpuIdentity.Current.Flags.Contains("avx512_bf16") ? "avx512_bf16" : null);
    }
}
