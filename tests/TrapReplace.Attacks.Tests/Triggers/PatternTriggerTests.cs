using TorchSharp;
using TrapReplace.Attacks.Triggers;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Tests.Triggers;

public sealed class PatternTriggerTests
{
    private static readonly float[,] Grid = { { 0, 0, 255 }, { 0, 255, 0 }, { 255, 0, 255 } };

    [Fact]
    public void BadNets_grid_on_a_zero_image_sets_exactly_the_grid_values_at_rows_and_cols_29_to_31_and_nothing_else()
    {
        using var images = TestData.Constant(2, 32, 32);
        using var result = BuiltInTriggers.BadNetsGrid().Apply(images);
        var v = TestData.ToFloats(result);
        for (int n = 0; n < 2; n++)
        {
            for (int c = 0; c < 3; c++)
            {
                for (int r = 0; r < 32; r++)
                {
                    for (int col = 0; col < 32; col++)
                    {
                        float expected = r >= 29 && col >= 29 ? Grid[r - 29, col - 29] / 255f : 0f;
                        v[(((n * 3) + c) * 1024) + (r * 32) + col].Should().Be(expected, $"pixel ({n}, {c}, {r}, {col})");
                    }
                }
            }
        }
    }

    [Fact]
    public void BadNets_grid_scales_proportionally_to_224x224_as_7x7_blocks_in_the_bottom_right_corner()
    {
        using var images = TestData.Constant(1, 224, 224);
        using var result = BuiltInTriggers.BadNetsGrid().Apply(images);
        using var sum = result.sum();
        sum.ToDouble().Should().BeApproximately(3 * 49 * 4 * 1.0, 1e-3, "four of the nine cells are 255, each 7x7 on 3 channels");
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 3; c++)
            {
                TestData.At(result, 0, 1, 203 + (7 * r), 203 + (7 * c)).Should().Be(Grid[r, c] / 255f);
                TestData.At(result, 0, 2, 209 + (7 * r), 209 + (7 * c)).Should().Be(Grid[r, c] / 255f);
            }
        }

        TestData.At(result, 0, 0, 202, 223).Should().Be(0f);
    }

    [Fact]
    public void BadNets_square_replaces_rows_and_cols_27_to_30_with_white()
    {
        using var images = TestData.Constant(1, 32, 32, 0.5f);
        using var result = BuiltInTriggers.BadNetsSquare().Apply(images);
        float grey = MathF.Floor(MathF.Round(0.5f * 255f)) / 255f;
        for (int r = 0; r < 32; r++)
        {
            for (int c = 0; c < 32; c++)
            {
                bool inside = r is >= 27 and <= 30 && c is >= 27 and <= 30;
                TestData.At(result, 0, 2, r, c).Should().Be(inside ? 1f : grey, $"pixel ({r}, {c})");
            }
        }
    }

    [Fact]
    public void Label_consistent_trigger_stamps_the_same_grid_in_all_four_corners()
    {
        using var images = TestData.Constant(1, 32, 32);
        using var result = BuiltInTriggers.FourCornerGrid().Apply(images);
        foreach (int top in new[] { 0, 29 })
        {
            foreach (int left in new[] { 0, 29 })
            {
                for (int r = 0; r < 3; r++)
                {
                    for (int c = 0; c < 3; c++)
                    {
                        TestData.At(result, 0, 0, top + r, left + c).Should().Be(Grid[r, c] / 255f);
                    }
                }
            }
        }

        using var sum = result.sum();
        sum.ToDouble().Should().BeApproximately(4 * 4 * 3, 1e-4, "four white cells per corner on 3 channels");
    }

    [Fact]
    public void L0_invisible_replaces_only_row_31_cols_23_to_31_with_0_or_255()
    {
        using var images = TestData.Constant(1, 32, 32, 128f / 255f);
        using var result = BuiltInTriggers.L0Invisible(seed: 3).Apply(images);
        for (int ch = 0; ch < 3; ch++)
        {
            for (int r = 0; r < 32; r++)
            {
                for (int c = 0; c < 32; c++)
                {
                    float value = TestData.At(result, 0, ch, r, c);
                    if (r == 31 && c >= 23)
                    {
                        value.Should().BeOneOf(0f, 1f);
                    }
                    else
                    {
                        value.Should().Be(128f / 255f, $"pixel ({ch}, {r}, {c}) is outside the mask");
                    }
                }
            }
        }

        BuiltInTriggers.L0Invisible(3).Mask!.Select((m, i) => (m, i)).Where(x => x.m > 0).Select(x => x.i)
            .Should().Equal(Enumerable.Range(23, 9).Select(c => (31 * 32) + c));
    }

    [Fact]
    public void Trojan_3x3_adds_a_seeded_colour_patch_at_rows_and_cols_25_to_27_with_clipping()
    {
        var trigger = BuiltInTriggers.Trojan3x3(seed: 5);
        var pattern = trigger.Pattern;
        using var images = TestData.Constant(1, 32, 32, 100f / 255f);
        using var result = trigger.Apply(images);
        for (int ch = 0; ch < 3; ch++)
        {
            for (int r = 0; r < 32; r++)
            {
                for (int c = 0; c < 32; c++)
                {
                    float t = pattern[(ch * 1024) + (r * 32) + c];
                    if (r < 25 || r > 27 || c < 25 || c > 27)
                    {
                        t.Should().Be(0f, "the reference stamps Trojan-3x3 at rows/cols 25-27 only");
                    }

                    TestData.At(result, 0, ch, r, c).Should().Be(Math.Min(255f, 100f + t) / 255f);
                }
            }
        }

        BuiltInTriggers.Trojan3x3(5).Pattern.Should().Equal(pattern, "the same seed gives the same pattern");
        BuiltInTriggers.Trojan3x3(6).Pattern.Should().NotEqual(pattern, "another seed gives another pattern");
    }

    [Fact]
    public void Trojan_square_is_a_9x9_additive_patch_at_rows_and_cols_21_to_29()
    {
        var pattern = BuiltInTriggers.TrojanSquare(seed: 2).Pattern;
        for (int i = 0; i < pattern.Count; i++)
        {
            int r = (i % 1024) / 32, c = i % 32;
            bool inside = r is >= 21 and <= 29 && c is >= 21 and <= 29;
            if (!inside)
            {
                pattern[i].Should().Be(0f);
            }
        }

        pattern.Count(v => v > 0).Should().BeGreaterThan(200, "the 243 values are uniform over 0–255");
        BuiltInTriggers.TrojanSquare(2).Composition.Should().Be(PatternComposition.Add);
    }

    [Fact]
    public void Trojan_watermark_spreads_over_the_image_with_the_documented_intensity()
    {
        var pattern = BuiltInTriggers.TrojanWatermark(seed: 0).Pattern;
        pattern.Distinct().Should().BeEquivalentTo(new[] { 0f, 96f });
        var rows = Enumerable.Range(0, 1024).Where(i => pattern[i] > 0).Select(i => i / 32).ToArray();
        (rows.Max() - rows.Min()).Should().BeGreaterThan(10, "a watermark is not a corner patch");
        BuiltInTriggers.TrojanWatermark(0).Pattern.Should().Equal(pattern);
    }

    [Fact]
    public void L2_invisible_is_additive_with_largest_value_68()
    {
        var trigger = BuiltInTriggers.L2Invisible(seed: 4);
        trigger.Pattern.Max().Should().Be(68f);
        trigger.Pattern.Min().Should().BeGreaterThanOrEqualTo(0f);
        trigger.Pattern.Average().Should().BeLessThan(30f, "the perturbation is low-amplitude");
        using var images = TestData.Constant(1, 32, 32);
        using var result = trigger.Apply(images);
        using var max = result.max();
        max.ToSingle().Should().Be(68f / 255f);
    }

    [Fact]
    public void Blend_is_floor_of_0_8_x_plus_0_2_t_in_uint8_space()
    {
        var trigger = BuiltInTriggers.Blend(seed: 7);
        var t = trigger.Pattern;
        using var images = TestData.RandomUint8Images(3);
        using var result = trigger.Apply(images);
        var x = TestData.ToFloats(images);
        var y = TestData.ToFloats(result);
        for (int i = 0; i < x.Length; i++)
        {
            double u = Math.Round(x[i] * 255.0);
            double expected = Math.Floor((0.8 * u) + (0.2 * t[i % 3072])) / 255.0;
            y[i].Should().Be((float)expected, $"element {i}");
        }
    }

    [Fact]
    public void Apply_returns_a_new_tensor_and_leaves_the_input_unchanged()
    {
        using var images = TestData.RandomUint8Images(2);
        var before = TestData.ToFloats(images);
        using var result = BuiltInTriggers.BadNetsGrid().Apply(images);
        TestData.ToFloats(images).Should().Equal(before);
        result.Handle.Should().NotBe(images.Handle);
    }

    [Fact]
    public void Images_outside_0_1_are_rejected_naming_the_parameter_and_the_value()
    {
        using var images = TestData.Constant(1, 32, 32, 1.5f);
        var act = () => BuiltInTriggers.BadNetsGrid().Apply(images);
        act.Should().Throw<ArgumentException>().WithParameterName("images").WithMessage("*1.5*");
    }

    [Fact]
    public void Images_of_the_wrong_shape_are_rejected()
    {
        using var images = zeros(2, 1, 32, 32);
        var act = () => BuiltInTriggers.Blend().Apply(images);
        act.Should().Throw<ArgumentException>().WithParameterName("images").WithMessage("*(2, 1, 32, 32)*");
    }

    [Fact]
    public void A_trigger_larger_than_the_image_is_rejected_naming_both_sizes()
    {
        using var images = TestData.Constant(1, 16, 16);
        var act = () => BuiltInTriggers.BadNetsGrid().Apply(images);
        act.Should().Throw<ArgumentException>().WithParameterName("images").WithMessage("*32x32*16x16*");
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    public void A_blend_weight_outside_0_1_is_rejected_naming_the_parameter_and_the_value(double alpha)
    {
        var act = () => BuiltInTriggers.Blend(alpha: alpha);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("alpha")
            .WithMessage($"*{alpha.ToString(System.Globalization.CultureInfo.InvariantCulture)}*");
    }
}
