using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Trapping;

public sealed class ReconstructionLossTests
{
    [Fact]
    public void Total_variation_is_the_sum_of_squared_neighbour_differences_over_the_element_count()
    {
        // Vertical: (2-0)^2 + (4-1)^2 = 13; horizontal: (1-0)^2 + (4-2)^2 = 5; 18 / 4 elements.
        using var x = tensor(new float[] { 0, 1, 2, 4 }).reshape(1, 1, 2, 2);
        using var tv = ReconstructionLoss.TotalVariation(x);
        tv.ToSingle().Should().Be(4.5f);
    }

    [Fact]
    public void Total_variation_divides_by_batch_channels_and_pixels()
    {
        // Two channels, the second constant: sums 18 + 0 over 2*1*2*2 = 8 elements.
        using var x = tensor(new float[] { 0, 1, 2, 4, 7, 7, 7, 7 }).reshape(1, 2, 2, 2);
        using var tv = ReconstructionLoss.TotalVariation(x);
        tv.ToSingle().Should().Be(2.25f);
    }

    [Fact]
    public void Mean_squared_error_is_the_mean_over_all_elements()
    {
        using var a = tensor(new float[] { 0, 0.5f, 1, 1 }).reshape(1, 1, 2, 2);
        using var b = tensor(new float[] { 0, 0, 0, 1 }).reshape(1, 1, 2, 2);
        using var mse = ReconstructionLoss.MeanSquaredError(a, b);
        mse.ToSingle().Should().Be((0.25f + 1f) / 4);
    }
}
