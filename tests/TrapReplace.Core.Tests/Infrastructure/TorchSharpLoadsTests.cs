using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Infrastructure;

public sealed class TorchSharpLoadsTests
{
    [Fact]
    public void A_tensor_operation_runs_on_this_host()
    {
        using var a = tensor(new float[] { 1, 2, 3 });
        using var b = a * 2 + 1;
        b.data<float>().ToArray().Should().Equal(3f, 5f, 7f);
    }
}
