using TrapReplace.Runtime;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Runtime;

public sealed class NativeHeapTests
{
    [Fact]
    public void On_glibc_freed_blocks_up_to_at_least_32_MiB_are_kept_for_reuse()
    {
        var tuning = NativeHeap.RetainFreedMemory();

        if (!OperatingSystem.IsLinux())
        {
            tuning.Applied.Should().BeFalse();
            tuning.Detail.Should().Contain("not Linux");
            return;
        }
        // The CI and development machines run Debian's glibc.
        tuning.Applied.Should().BeTrue(tuning.Detail);
        tuning.MmapThresholdBytes.Should().BeGreaterThanOrEqualTo(32L << 20);
        tuning.Detail.Should().StartWith("glibc ").And.Contain($"{tuning.MmapThresholdBytes >> 20} MiB");
    }

    [Fact]
    public void Later_calls_return_the_first_result()
    {
        NativeHeap.RetainFreedMemory().Should().BeSameAs(NativeHeap.RetainFreedMemory());
    }

    [Fact]
    public void Prepare_pins_the_thread_count()
    {
        int before = get_num_threads();
        try
        {
            TorchRuntime.Prepare(1);
            get_num_threads().Should().Be(1);
            TorchRuntime.Prepare(0);
            get_num_threads().Should().Be(1, "0 leaves the thread count as it is");
        }
        finally
        {
            set_num_threads(before);
        }
    }
}
