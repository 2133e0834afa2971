using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Training;

// Loads libtorch, so it runs with the torch tests (no collection of its own).
public sealed class ComputeDeviceTorchTests
{
    [Fact]
    public void The_cpu_maps_to_torchs_cpu_and_cuda_is_refused_by_name_where_there_is_none()
    {
        ComputeDevice.Cpu.ToTorch().type.Should().Be(TorchSharp.DeviceType.CPU);

        var gpu = ComputeDevice.Cuda(1);
        if (cuda.is_available())
        {
            var device = gpu.ToTorch();
            (device.type, device.index).Should().Be((TorchSharp.DeviceType.CUDA, 1));
        }
        else
        {
            FluentActions.Invoking(() => gpu.ToTorch()).Should().Throw<InvalidOperationException>()
                .WithMessage("Device 'cuda:1' was requested but CUDA is not available*");
        }
    }
}
