-- natter_fold() again, with its 30 blocks nested in groups of 6 behind one range test each:
-- a non-ASCII text used to pay 30 regular expressions per call (and the two generated
-- columns call it twice per written row). Same results: the function is generated from
-- the Rust fold table (crates/natter-store-postgres/src/search.rs, fold_function_sql) and
-- a test compares it with Rust for every character below U+11000, so stored values stay
-- valid.

CREATE OR REPLACE FUNCTION natter_fold(t text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    AS $fold$
BEGIN
    t := lower(t COLLATE "C");
    IF octet_length(t) = char_length(t) THEN RETURN t; END IF;
    IF t ~ '[\u00b5-\u0219]' THEN
        IF t ~ '[\u00b5-\u00f2]' THEN t := translate(t, 'µÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞàáâãäåçèéêëìíîïñò', 'μaaaaaaæceeeeiiiiðnoooooøuuuuyþaaaaaaceeeeiiiino'); END IF;
        IF t ~ '[\u00f3-\u0126]' THEN t := translate(t, 'óôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĐĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦ', 'oooouuuuyyaaaaaaccccccccddđeeeeeeeeeegggggggghhħ'); END IF;
        IF t ~ '[\u0128-\u015f]' THEN t := translate(t, 'ĨĩĪīĬĭĮįİĲĴĵĶķĹĺĻļĽľĿŁŃńŅņŇňŊŌōŎŏŐőŒŔŕŖŗŘřŚśŜŝŞş', 'iiiiiiiiiĳjjkkllllllŀłnnnnnnŋooooooœrrrrrrssssss'); END IF;
        IF t ~ '[\u0160-\u0198]' THEN t := translate(t, 'ŠšŢţŤťŦŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƁƂƄƆƇƉƊƋƎƏƐƑƓƔƖƗƘ', 'ssttttŧuuuuuuuuuuuuwwyyyzzzzzzsɓƃƅɔƈɖɗƌǝəɛƒɠɣɩɨƙ'); END IF;
        IF t ~ '[\u019c-\u01e4]' THEN t := translate(t, 'ƜƝƟƠơƢƤƦƧƩƬƮƯưƱƲƳƵƷƸƼǄǅǇǈǊǋǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǢǤ', 'ɯɲɵooƣƥʀƨʃƭʈuuʊʋƴƶʒƹƽǆǆǉǉǌǌaaiioouuuuuuuuuuaaǡǣǥ'); END IF;
        IF t ~ '[\u01e6-\u0219]' THEN t := translate(t, 'ǦǧǨǩǪǫǬǭǮǰǱǲǴǵǶǷǸǹǺǻǼǾȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘș', 'ggkkooooǯjǳǳggƕƿnnaaǽǿaaaaeeeeiiiioooorrrruuuuss'); END IF;
    END IF;
    IF t ~ '[\u021a-\u0543]' THEN
        IF t ~ '[\u021a-\u030f]' THEN t := translate(t, 'ȚțȜȞȟȠȢȤȦȧȨȩȪȫȬȭȮȯȰȱȲȳȺȻȽȾɁɃɄɅɆɈɊɌɎ̀́̂̃̄̆̇̈̉̊̋̌̏', 'ttȝhhƞȣȥaaeeooooooooyyⱥȼƚⱦɂƀʉʌɇɉɋɍɏ'); END IF;
        IF t ~ '[\u0311-\u03aa]' THEN t := translate(t, 'ͅͰͲͶΆΈΉΊΌΎΏΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪ̧̨̛̣̤̥̦̭̮̰̱̑', 'ιͱͳͷάέήίόύώαβγδεζηθικλμνξοπρστυφχψωϊ'); END IF;
        IF t ~ '[\u03ab-\u0412]' THEN t := translate(t, 'ΫςϏϐϑϕϖϘϚϜϞϠϢϤϦϨϪϬϮϰϱϴϵϷϹϺϽϾϿЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВ', 'ϋσϗβθφπϙϛϝϟϡϣϥϧϩϫϭϯκρθεϸϲϻͻͼͽѐёђѓєѕіїјљњћќѝўџабв'); END IF;
        IF t ~ '[\u0413-\u048c]' THEN t := translate(t, 'ГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯѠѢѤѦѨѪѬѮѰѲѴѶѸѺѼѾҀҊҌ', 'гдежзийклмнопрстуфхцчшщъыьэюяѡѣѥѧѩѫѭѯѱѳѵѷѹѻѽѿҁҋҍ'); END IF;
        IF t ~ '[\u048e-\u04ec]' THEN t := translate(t, 'ҎҐҒҔҖҘҚҜҞҠҢҤҦҨҪҬҮҰҲҴҶҸҺҼҾӀӁӃӅӇӉӋӍӐӒӔӖӘӚӜӞӠӢӤӦӨӪӬ', 'ҏґғҕҗҙқҝҟҡңҥҧҩҫҭүұҳҵҷҹһҽҿӏӂӄӆӈӊӌӎӑӓӕӗәӛӝӟӡӣӥӧөӫӭ'); END IF;
        IF t ~ '[\u04ee-\u0543]' THEN t := translate(t, 'ӮӰӲӴӶӸӺӼӾԀԂԄԆԈԊԌԎԐԒԔԖԘԚԜԞԠԢԤԦԱԲԳԴԵԶԷԸԹԺԻԼԽԾԿՀՁՂՃ', 'ӯӱӳӵӷӹӻӽӿԁԃԅԇԉԋԍԏԑԓԕԗԙԛԝԟԡԣԥԧաբգդեզէըթժիլխծկհձղճ'); END IF;
    END IF;
    IF t ~ '[\u0544-\u1ee8]' THEN
        IF t ~ '[\u0544-\u10bc]' THEN t := translate(t, 'ՄՅՆՇՈՉՊՋՌՍՎՏՐՑՒՓՔՕՖႠႡႢႣႤႥႦႧႨႩႪႫႬႭႮႯႰႱႲႳႴႵႶႷႸႹႺႻႼ', 'մյնշոչպջռսվտրցւփքօֆⴀⴁⴂⴃⴄⴅⴆⴇⴈⴉⴊⴋⴌⴍⴎⴏⴐⴑⴒⴓⴔⴕⴖⴗⴘⴙⴚⴛⴜ'); END IF;
        IF t ~ '[\u10bd-\u1e24]' THEN t := translate(t, 'ႽႾႿჀჁჂჃჄჅჇჍḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤ', 'ⴝⴞⴟⴠⴡⴢⴣⴤⴥⴧⴭaabbbbbbccddddddddddeeeeeeeeeeffgghhh'); END IF;
        IF t ~ '[\u1e25-\u1e54]' THEN t := translate(t, 'ḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔ', 'hhhhhhhiiiikkkkkkllllllllmmmmmmnnnnnnnnoooooooop'); END IF;
        IF t ~ '[\u1e55-\u1e84]' THEN t := translate(t, 'ṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄ', 'ppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwww'); END IF;
        IF t ~ '[\u1e85-\u1eb8]' THEN t := translate(t, 'ẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẞẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸ', 'wwwwwxxxxyyzzzzzzhtwysßaaaaaaaaaaaaaaaaaaaaaaaae'); END IF;
        IF t ~ '[\u1eb9-\u1ee8]' THEN t := translate(t, 'ẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨ', 'eeeeeeeeeeeeeeeiiiioooooooooooooooooooooooouuuuu'); END IF;
    END IF;
    IF t ~ '[\u1ee9-\ua650]' THEN
        IF t ~ '[\u1ee9-\u1f3d]' THEN t := translate(t, 'ứỪừỬửỮữỰựỲỳỴỵỶỷỸỹỺỼỾἈἉἊἋἌἍἎἏἘἙἚἛἜἝἨἩἪἫἬἭἮἯἸἹἺἻἼἽ', 'uuuuuuuuuyyyyyyyyỻỽỿἀἁἂἃἄἅἆἇἐἑἒἓἔἕἠἡἢἣἤἥἦἧἰἱἲἳἴἵ'); END IF;
        IF t ~ '[\u1f3e-\u1fbb]' THEN t := translate(t, 'ἾἿὈὉὊὋὌὍὙὛὝὟὨὩὪὫὬὭὮὯᾈᾉᾊᾋᾌᾍᾎᾏᾘᾙᾚᾛᾜᾝᾞᾟᾨᾩᾪᾫᾬᾭᾮᾯᾸᾹᾺΆ', 'ἶἷὀὁὂὃὄὅὑὓὕὗὠὡὢὣὤὥὦὧᾀᾁᾂᾃᾄᾅᾆᾇᾐᾑᾒᾓᾔᾕᾖᾗᾠᾡᾢᾣᾤᾥᾦᾧᾰᾱὰά'); END IF;
        IF t ~ '[\u1fbc-\u24bb]' THEN t := translate(t, 'ᾼιῈΈῊΉῌῘῙῚΊῨῩῪΎῬῸΌῺΏῼΩKÅℲⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫⅬⅭⅮⅯↃⒶⒷⒸⒹⒺⒻ', 'ᾳιὲέὴήῃῐῑὶίῠῡὺύῥὸόὼώῳωkaⅎⅰⅱⅲⅳⅴⅵⅶⅷⅸⅹⅺⅻⅼⅽⅾⅿↄⓐⓑⓒⓓⓔⓕ'); END IF;
        IF t ~ '[\u24bc-\u2c1b]' THEN t := translate(t, 'ⒼⒽⒾⒿⓀⓁⓂⓃⓄⓅⓆⓇⓈⓉⓊⓋⓌⓍⓎⓏⰀⰁⰂⰃⰄⰅⰆⰇⰈⰉⰊⰋⰌⰍⰎⰏⰐⰑⰒⰓⰔⰕⰖⰗⰘⰙⰚⰛ', 'ⓖⓗⓘⓙⓚⓛⓜⓝⓞⓟⓠⓡⓢⓣⓤⓥⓦⓧⓨⓩⰰⰱⰲⰳⰴⰵⰶⰷⰸⰹⰺⰻⰼⰽⰾⰿⱀⱁⱂⱃⱄⱅⱆⱇⱈⱉⱊⱋ'); END IF;
        IF t ~ '[\u2c1c-\u2c9a]' THEN t := translate(t, 'ⰜⰝⰞⰟⰠⰡⰢⰣⰤⰥⰦⰧⰨⰩⰪⰫⰬⰭⰮⱠⱢⱣⱤⱧⱩⱫⱭⱮⱯⱰⱲⱵⱾⱿⲀⲂⲄⲆⲈⲊⲌⲎⲐⲒⲔⲖⲘⲚ', 'ⱌⱍⱎⱏⱐⱑⱒⱓⱔⱕⱖⱗⱘⱙⱚⱛⱜⱝⱞⱡɫᵽɽⱨⱪⱬɑɱɐɒⱳⱶȿɀⲁⲃⲅⲇⲉⲋⲍⲏⲑⲓⲕⲗⲙⲛ'); END IF;
        IF t ~ '[\u2c9c-\ua650]' THEN t := translate(t, 'ⲜⲞⲠⲢⲤⲦⲨⲪⲬⲮⲰⲲⲴⲶⲸⲺⲼⲾⳀⳂⳄⳆⳈⳊⳌⳎⳐⳒⳔⳖⳘⳚⳜⳞⳠⳢⳫⳭⳲꙀꙂꙄꙆꙈꙊꙌꙎꙐ', 'ⲝⲟⲡⲣⲥⲧⲩⲫⲭⲯⲱⲳⲵⲷⲹⲻⲽⲿⳁⳃⳅⳇⳉⳋⳍⳏⳑⳓⳕⳗⳙⳛⳝⳟⳡⳣⳬⳮⳳꙁꙃꙅꙇꙉꙋꙍꙏꙑ'); END IF;
    END IF;
    IF t ~ '[\ua652-\U00010427]' THEN
        IF t ~ '[\ua652-\ua74e]' THEN t := translate(t, 'ꙒꙔꙖꙘꙚꙜꙞꙠꙢꙤꙦꙨꙪꙬꚀꚂꚄꚆꚈꚊꚌꚎꚐꚒꚔꚖꜢꜤꜦꜨꜪꜬꜮꜲꜴꜶꜸꜺꜼꜾꝀꝂꝄꝆꝈꝊꝌꝎ', 'ꙓꙕꙗꙙꙛꙝꙟꙡꙣꙥꙧꙩꙫꙭꚁꚃꚅꚇꚉꚋꚍꚏꚑꚓꚕꚗꜣꜥꜧꜩꜫꜭꜯꜳꜵꜷꜹꜻꜽꜿꝁꝃꝅꝇꝉꝋꝍꝏ'); END IF;
        IF t ~ '[\ua750-\uff2e]' THEN t := translate(t, 'ꝐꝒꝔꝖꝘꝚꝜꝞꝠꝢꝤꝦꝨꝪꝬꝮꝹꝻꝽꝾꞀꞂꞄꞆꞋꞍꞐꞒꞠꞢꞤꞦꞨꞪＡＢＣＤＥＦＧＨＩＪＫＬＭＮ', 'ꝑꝓꝕꝗꝙꝛꝝꝟꝡꝣꝥꝧꝩꝫꝭꝯꝺꝼᵹꝿꞁꞃꞅꞇꞌɥꞑꞓꞡꞣꞥꞧꞩɦａｂｃｄｅｆｇｈｉｊｋｌｍｎ'); END IF;
        IF t ~ '[\uff2f-\U00010421]' THEN t := translate(t, 'ＯＰＱＲＳＴＵＶＷＸＹＺ￾￿𐐀𐐁𐐂𐐃𐐄𐐅𐐆𐐇𐐈𐐉𐐊𐐋𐐌𐐍𐐎𐐏𐐐𐐑𐐒𐐓𐐔𐐕𐐖𐐗𐐘𐐙𐐚𐐛𐐜𐐝𐐞𐐟𐐠𐐡', 'ｏｐｑｒｓｔｕｖｗｘｙｚ��𐐨𐐩𐐪𐐫𐐬𐐭𐐮𐐯𐐰𐐱𐐲𐐳𐐴𐐵𐐶𐐷𐐸𐐹𐐺𐐻𐐼𐐽𐐾𐐿𐑀𐑁𐑂𐑃𐑄𐑅𐑆𐑇𐑈𐑉'); END IF;
        IF t ~ '[\U00010422-\U00010427]' THEN t := translate(t, '𐐢𐐣𐐤𐐥𐐦𐐧', '𐑊𐑋𐑌𐑍𐑎𐑏'); END IF;
    END IF;
    RETURN t;
END
$fold$;
