"""A small mixed calibration set shipped with the tool, for jobs that have no training data of their own.

AWQ only needs activations that look like what the model will see: ordinary prose, dialogue, a
little code and numbers, in English and Chinese (the two languages operators of this tool use
most). Written for this project; no download needed.
"""

from __future__ import annotations

NAME = "generic-text"

TEXTS: tuple[str, ...] = (
    "The capital of France is Paris, a city on the river Seine known for its museums and cafés.",
    "Water boils at 100 degrees Celsius at sea level; at higher altitudes it boils at a lower temperature.",
    "To make a cup of tea, heat fresh water, pour it over the leaves, wait three minutes and remove them.",
    "A prime number has exactly two divisors: one and itself. The first primes are 2, 3, 5, 7, 11 and 13.",
    "Photosynthesis turns carbon dioxide and water into sugar and oxygen, using the energy of sunlight.",
    "The meeting is moved to Thursday at 10:30. Please bring the quarterly figures and the draft budget.",
    "def add(a, b):\n    \"\"\"Return the sum of two numbers.\"\"\"\n    return a + b\n\nprint(add(2, 3))",
    "SELECT name, COUNT(*) AS orders FROM customers JOIN orders USING (id) GROUP BY name ORDER BY orders DESC;",
    "for i in range(10):\n    if i % 2 == 0:\n        print(i, 'is even')\n    else:\n        print(i, 'is odd')",
    "User: Can you recommend a book for a long train journey?\nAssistant: Try a collection of short stories; "
    "you can finish one between stations.",
    "User: How do I reset my password?\nAssistant: Open Settings, choose Account, then Security, and press "
    "'Reset password'. A link will arrive by email.",
    "User: What is 17 times 23?\nAssistant: 17 × 23 = 391.",
    "The treaty was signed in 1648 and ended thirty years of war in central Europe.",
    "Regular exercise, enough sleep and a varied diet are the three habits doctors mention most often.",
    "In economics, inflation is the rate at which the general level of prices rises over a period of time.",
    "The train leaves platform 4 at 08:15 and arrives in the city centre forty minutes later.",
    "Mix 200 g of flour, two eggs and 300 ml of milk; rest the batter for half an hour before frying.",
    "The function returns None when the key is missing, so check the result before using it.",
    "Light travels about 300,000 kilometres per second; sunlight reaches the Earth in about eight minutes.",
    "Dear team, thank you for your hard work this year. The office will be closed from 24 December to 2 January.",
    "北京是中国的首都，有着三千多年的历史，故宫和长城是最著名的名胜古迹。",
    "用户：你好，请问今天天气怎么样？\n助手：今天晴，最高气温二十五度，适合外出散步。",
    "用户：请帮我写一句生日祝福。\n助手：祝你生日快乐，身体健康，万事如意！",
    "学习一门新的语言需要耐心，每天坚持练习听说读写，效果会越来越明显。",
    "春天来了，公园里的花都开了，孩子们在草地上放风筝，老人们在树下下棋。",
    "人工智能是计算机科学的一个分支，研究如何让机器模拟人类的学习、推理和决策能力。",
    "这份报告总结了第三季度的销售情况：收入同比增长百分之十二，成本基本持平。",
    "用户：一公里等于多少米？\n助手：一公里等于一千米。",
    "请在下周一之前提交项目计划书，并注明预算、时间表和负责人。",
    "长江是中国最长的河流，全长约六千三百公里，流经十一个省、自治区和直辖市。",
    "The recipe calls for three cloves of garlic, a tin of tomatoes, olive oil, salt and fresh basil.",
    "Version 2.1 fixes a crash on start-up, speeds up search by a third and adds a dark theme.",
)
